/**
 * The running process, as an operator drives it (docs/operations.md): the compiled CLI is spawned with a
 * sqlite store, in front of a fake homeserver in this process, and its JSON log lines are read from stdout.
 * - SIGHUP re-reads the file: a good one is applied (`reload`), a bad one refused (`reload_refused`);
 * - SIGTERM lets a long-poll finish, then exits 0;
 * - `sessions list|revoke` work on the store while the gateway runs, and the gateway honours a revocation
 *   within `store.revocation_poll` (1s);
 */
import fs from "node:fs";
import path from "node:path";
import t, { type Test } from "tap";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { call, freePort, login, type Reply } from "../helpers/http.js";
import { buildOnce, CHILD_EVENT_MS, type CliProcess, runCli, sleep, startCli, within } from "../helpers/processes.js";
import { sessionIdOf } from "../helpers/session-api.js";

const SECRET = "signals-test-secret-that-is-at-least-32-bytes";
const ALICE = "@alice:example.org";
const WHOAMI = "/_matrix/client/v3/account/whoami";

t.before(buildOnce);

// ---------------------------------------------------------------------------------------------------
// Helpers

/** The config file of these tests; `tokens` is the one part that changes between writes. */
function configText(port: number, homeserver: FakeHomeserver, dir: string, tokens = "{access_ttl: 5m}"): string {
  return [
    "server_name: example.org",
    `listen: {host: 127.0.0.1, port: ${port}}`,
    `upstream: {url: "${homeserver.url}", timeout: 10s}`,
    `jwt: {secret: "${SECRET}"}`,
    `tokens: ${tokens}`,
    `store: {type: sqlite, path: "${path.join(dir, "gateway.sqlite")}"}`,
    "rate_limits: {enabled: false}",
    "http: {shutdown_timeout: 10s}",
    "log: {level: info}",
    "",
  ].join("\n");
}

async function homeserverFor(t: Test): Promise<FakeHomeserver> {
  const homeserver = await startFakeHomeserver("example.org");
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  return homeserver;
}

/** The CLI on a free port with a sqlite store in a fresh directory, in front of `homeserver`. */
async function startCliFor(t: Test, homeserver: FakeHomeserver): Promise<CliProcess> {
  const dir = t.testdir({});
  const port = await freePort();
  return startCli(t, dir, port, configText(port, homeserver, dir));
}

// ---------------------------------------------------------------------------------------------------
// Signals

t.test("SIGHUP with a valid changed file applies it; tokens issued before keep working", async (t) => {
  const homeserver = await homeserverFor(t);
  const gw = await startCliFor(t, homeserver);

  const before = await login(gw.port);
  t.equal(before.status, 200);
  t.equal(before.body.expires_in_ms, 300_000, "access_ttl 5m");

  fs.writeFileSync(gw.file, configText(gw.port, homeserver, path.dirname(gw.file), "{access_ttl: 7m}"));
  const mark = gw.lines.length;
  gw.child.kill("SIGHUP");
  const reload = await gw.waitForLine((line) => line.event === "reload", CHILD_EVENT_MS, mark);
  t.match(reload, { level: "info", event: "reload", msg: "configuration reloaded" });
  t.notOk("restart_needed_for" in reload, "nothing that needs a restart changed");

  const after = await login(gw.port);
  t.equal(after.status, 200);
  t.equal(after.body.expires_in_ms, 420_000, "access_ttl 7m applies to the next login");

  // The session and token from before the reload are still good, and so is the new one.
  const old = await call(gw.port, "GET", WHOAMI, { token: before.body.access_token });
  t.equal(old.status, 200);
  t.match(old.body, { user_id: ALICE });
  t.equal((await call(gw.port, "GET", WHOAMI, { token: after.body.access_token })).status, 200);
  const refreshed = await call(gw.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: before.body.refresh_token } });
  t.equal(refreshed.status, 200);
  t.equal(refreshed.body.expires_in_ms, 420_000, "a refresh after the reload gets the new lifetime too");
  t.equal(gw.stderr(), "");
});

t.test("SIGHUP with an invalid file is refused; the running configuration keeps serving", async (t) => {
  const homeserver = await homeserverFor(t);
  const gw = await startCliFor(t, homeserver);
  const before = await login(gw.port);
  t.equal(before.status, 200);

  // Line 5 is `tokens: {access_ttl: soon}`; the problem points at the key (column 10).
  fs.writeFileSync(gw.file, configText(gw.port, homeserver, path.dirname(gw.file), "{access_ttl: soon}"));
  const mark = gw.lines.length;
  gw.child.kill("SIGHUP");
  const refused = await gw.waitForLine((line) => line.event === "reload_refused", CHILD_EVENT_MS, mark);
  t.match(refused, { level: "error", event: "reload_refused", msg: /running configuration is kept/ });
  t.same(refused.problems, [`${gw.file}:5:10: tokens.access_ttl: not a duration: "soon" (use e.g. 500ms, 30s, 5m, 12h, 30d)`]);
  t.notOk(
    gw.lines.slice(mark).some((line) => line.event === "reload"),
    "nothing was applied",
  );

  // Still 5 minutes, and still serving the session from before.
  const again = await login(gw.port);
  t.equal(again.status, 200);
  t.equal(again.body.expires_in_ms, 300_000);
  t.equal((await call(gw.port, "GET", WHOAMI, { token: before.body.access_token })).status, 200);
  t.equal(gw.child.exitCode, null, "still running");
});

t.test("SIGTERM while a long-poll is in flight: the sync completes, then exit 0", async (t) => {
  const homeserver = await homeserverFor(t);
  const gw = await startCliFor(t, homeserver);
  const session = await login(gw.port);
  t.equal(session.status, 200);

  // The fake homeserver holds an incremental sync for its `timeout`.
  const started = Date.now();
  const sync = call(gw.port, "GET", "/_matrix/client/v3/sync?since=x&timeout=2000", { token: session.body.access_token });
  for (let i = 0; i < 100 && !homeserver.received.some((r) => r.url.startsWith("/_matrix/client/v3/sync")); i++) await sleep(10);
  t.ok(
    homeserver.received.some((r) => r.url.startsWith("/_matrix/client/v3/sync")),
    "the sync reached the homeserver",
  );

  gw.child.kill("SIGTERM");
  await gw.waitForLine((line) => line.msg === "shutting down" && line.signal === "SIGTERM");
  t.equal(gw.child.exitCode, null, "still draining while the long-poll runs");

  const reply = await sync;
  t.equal(reply.status, 200);
  t.match(reply.body, { next_batch: String, rooms: { join: {} } });
  t.ok(Date.now() - started >= 1_900, "the long-poll was not cut short");
  const exit = await within(gw.exited, CHILD_EVENT_MS);
  t.same(exit, { code: 0, signal: null }, "exit 0 once drained");
  t.ok(
    gw.lines.some((line) => line.msg === "stopped"),
    "a last line says so",
  );
  // Request lines are buffered (`log.buffer`); the long-poll's ended moments before the exit, which writes it.
  t.match(
    gw.lines.filter((line) => line.event === "request" && line.route === "authenticated"),
    [{ method: "GET", path: "/_matrix/client/v3/sync?since=x&timeout=2000", status: 200, user_id: ALICE }],
    "the long-poll's request line was written at exit",
  );
  t.equal(gw.stderr(), "");
});

// ---------------------------------------------------------------------------------------------------
// Admin commands against the running gateway's store

t.test("sessions list / revoke on the sqlite store while the gateway runs", async (t) => {
  const homeserver = await homeserverFor(t);
  const gw = await startCliFor(t, homeserver);
  const session = await login(gw.port);
  t.equal(session.status, 200);
  const token = session.body.access_token as string;
  const sid = sessionIdOf(token);
  const [upstreamToken, device] = [...homeserver.tokens][0] ?? [];
  t.ok(upstreamToken, "the homeserver issued alice a token");

  // Cached by the login and the first request: only the revocation feed can tell the gateway.
  t.equal((await call(gw.port, "GET", WHOAMI, { token })).status, 200);

  const listed = await runCli(["sessions", "list", "--config", gw.file, "--user", ALICE]);
  t.equal(listed.code, 0, listed.stderr);
  const [header, row, ...rest] = listed.stdout.trimEnd().split("\n");
  t.match(header, /^SESSION\s+USER\s+DEVICE\s+CREATED\s+EXPIRES\s+LAST REFRESH\s+CLIENT$/);
  t.match(row, new RegExp(`^${sid}\\s+${ALICE}\\s+${session.body.device_id}\\s.*\\s-$`), "a /login session has no OAuth client");
  t.same(rest, [], "one session");

  const revoked = await runCli(["sessions", "revoke", "--config", gw.file, "--user", ALICE]);
  t.equal(revoked.code, 0, revoked.stderr);
  t.equal(revoked.stdout, `revoked ${sid} (${ALICE}, device ${session.body.device_id}): homeserver session logged out\n`);
  t.same(homeserver.logouts, [{ path: "/logout", token: upstreamToken }], "the homeserver session was logged out");

  // Give the homeserver its token back, so a 401 can only come from the gateway's own revocation check.
  if (upstreamToken && device) homeserver.tokens.set(upstreamToken, device);
  let reply: Reply = { status: 0, headers: {}, body: undefined, ms: 0 };
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    reply = await call(gw.port, "GET", WHOAMI, { token });
    if (reply.status !== 200) break;
    await sleep(100);
  }
  t.equal(reply.status, 401, "refused within 3 s");
  t.match(reply.body, { errcode: "M_UNKNOWN_TOKEN" });
  t.notOk(reply.body.soft_logout, "not a soft logout: the session is gone");
  const seenUpstream = homeserver.received.filter((r) => r.url === WHOAMI).length;
  t.equal((await call(gw.port, "GET", WHOAMI, { token })).status, 401);
  t.equal(homeserver.received.filter((r) => r.url === WHOAMI).length, seenUpstream, "a revoked token no longer reaches the homeserver");
  const refresh = await call(gw.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: session.body.refresh_token } });
  t.equal(refresh.status, 401, "its refresh token is dead too");

  const after = await runCli(["sessions", "list", "--config", gw.file, "--user", ALICE]);
  t.equal(after.code, 0);
  t.equal(after.stdout, "no sessions\n");
  const again = await runCli(["sessions", "revoke", "--config", gw.file, "--session", sid]);
  t.equal(again.code, 1, "revoking a session that is gone fails");
  t.equal(again.stderr, "sessions revoke: no such session\n");
});

t.test("sessions revoke --session ends one session and leaves the others", async (t) => {
  const homeserver = await homeserverFor(t);
  const gw = await startCliFor(t, homeserver);
  const first = await login(gw.port);
  const second = await login(gw.port);
  const [sid1, sid2] = [sessionIdOf(first.body.access_token), sessionIdOf(second.body.access_token)];
  const revoked = await runCli(["sessions", "revoke", "--config", gw.file, "--session", sid1]);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, new RegExp(`^revoked ${sid1} \\(${ALICE}, device \\w+\\): homeserver session logged out\\n$`));
  const listed = await runCli(["sessions", "list", "--config", gw.file, "--user", ALICE]);
  t.notMatch(listed.stdout, sid1);
  t.match(listed.stdout, sid2);
  t.equal((await call(gw.port, "GET", WHOAMI, { token: second.body.access_token })).status, 200, "the other session still works");
});
