/**
 * `workers: 2` (docs/scaling.md): the compiled CLI forks two workers sharing the listening socket and
 * one SQLite file. Requests on fresh connections are spread over both (each log line carries `worker`),
 * yet they behave as one gateway: a session works on either, a login limit counts on the primary for
 * both, an admin revocation reaches both within `store.revocation_poll`, and SIGTERM stops them all.
 * `workers` > 1 with the memory store is a configuration error.
 */
import fs from "node:fs";
import path from "node:path";
import t, { type Test } from "tap";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { call, freePort, login, type Reply } from "../helpers/http.js";
import { buildOnce, CHILD_EVENT_MS, type CliProcess, type LogLine, runCli, sleep, startCli, within } from "../helpers/processes.js";
import { sessionIdOf } from "../helpers/session-api.js";
import { ALICE, SECRET, WHOAMI } from "./shared.js";

t.before(buildOnce);

async function homeserverFor(t: Test): Promise<FakeHomeserver> {
  const homeserver = await startFakeHomeserver("example.org");
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  return homeserver;
}

function configText(port: number, homeserver: FakeHomeserver, dir: string): string {
  return [
    "workers: 2",
    "server_name: example.org",
    `listen: {host: 127.0.0.1, port: ${port}}`,
    `upstream: {url: "${homeserver.url}", timeout: 10s}`,
    `jwt: {secret: "${SECRET}"}`,
    `store: {type: sqlite, path: "${path.join(dir, "gateway.sqlite")}"}`,
    "rate_limits: {login: {per_address: {points: 3, duration: 1m}}}",
    "http: {shutdown_timeout: 5s}",
    "log: {level: info}",
    "",
  ].join("\n");
}

/** The workers that logged a finished request matching `match` (from line `from` on). */
function workersThat(gw: CliProcess, match: (line: LogLine) => boolean, from = 0): number[] {
  const ids = gw.lines.slice(from).filter((line) => line.event === "request" && match(line));
  return [...new Set(ids.map((line) => line.worker as number))].sort();
}

/** Direct children of `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …: comm may contain spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test("two workers serve as one gateway", async (t) => {
  const homeserver = await homeserverFor(t);
  const dir = t.testdir({});
  const port = await freePort();
  const gw = await startCli(t, dir, port, configText(port, homeserver, dir), 2);
  const listening = gw.lines.filter((line) => line.msg === "listening").map((line) => line.worker);
  t.same(listening.sort(), [1, 2], "both workers listen");
  t.match(
    gw.lines.find((line) => line.msg === "started workers"),
    { workers: 2 },
  );

  const health = await call(port, "GET", "/health");
  t.equal(health.status, 200);
  t.same(health.body, { status: "ok" });

  // One login (the first of the 3 allowed from this address), then its token on many fresh connections.
  const session = await login(port);
  t.equal(session.status, 200);
  const token = session.body.access_token as string;
  const replies: Reply[] = [];
  for (let i = 0; i < 20; i++) replies.push(await call(port, "GET", WHOAMI, { token }));
  t.same(
    replies.map((r) => r.status),
    Array(20).fill(200),
    "20 whoami calls, all 200",
  );
  t.same(replies[19]?.body, { user_id: ALICE, device_id: session.body.device_id });
  await gw.waitForLines((line) => line.event === "request" && line.path === WHOAMI, 20);
  t.same(
    workersThat(gw, (line) => line.path === WHOAMI && line.status === 200),
    [1, 2],
    "both workers answered with the session",
  );

  // Logins 2 and 3 pass, the 4th is refused: the counter is the primary's, shared by both workers
  // (with a counter per worker, alternating connections would give each worker only two).
  const logins: Reply[] = [];
  for (let i = 0; i < 3; i++) logins.push(await login(port));
  t.same(
    logins.map((r) => r.status),
    [200, 200, 429],
    "logins 2 and 3 pass, the 4th gets 429",
  );
  t.equal(logins[1]?.headers["ratelimit-remaining"], "0", "the 3rd login used the last point");
  t.match(logins[2]?.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: Number });
  await gw.waitForLines((line) => line.event === "request" && line.route === "login", 4);
  t.same(
    workersThat(gw, (line) => line.route === "login"),
    [1, 2],
    "the logins were spread over both workers",
  );

  // Admin revocation of the first session while both workers hold it in their caches.
  const sid = sessionIdOf(token);
  const revoked = await runCli(["sessions", "revoke", "--config", gw.file, "--session", sid]);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, new RegExp(`^revoked ${sid} \\(${ALICE}, device \\w+\\): homeserver session logged out\\n$`));
  const revokedAt = Date.now();
  // Give the homeserver its token back, so a 401 can only come from the gateway's own revocation check.
  const upstreamToken = homeserver.logouts[0]?.token as string;
  homeserver.tokens.set(upstreamToken, { userId: ALICE, deviceId: session.body.device_id as string });

  // Until six answers in a row are 401 (three per worker, connections alternating), within 3 s.
  const mark = gw.lines.length;
  let refusedInRow = 0;
  let last: Reply | undefined;
  while (refusedInRow < 6 && Date.now() - revokedAt < 3_000) {
    last = await call(port, "GET", WHOAMI, { token });
    refusedInRow = last.status === 401 ? refusedInRow + 1 : 0;
    if (last.status !== 401) await sleep(20);
  }
  t.equal(refusedInRow, 6, `refused by the gateway within 3 s (${Date.now() - revokedAt} ms)`);
  t.same(last?.body, { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false });
  // Request lines reach stdout in batches (log.buffer), each worker's on its own schedule: wait for each.
  for (const worker of [1, 2]) {
    await gw.waitForLine(
      (line) => line.event === "request" && line.path === WHOAMI && line.status === 401 && line.worker === worker,
      CHILD_EVENT_MS,
      mark,
    );
  }
  t.same(
    workersThat(gw, (line) => line.path === WHOAMI && line.status === 401, mark),
    [1, 2],
    "both workers refuse the revoked session",
  );

  // SIGTERM: the primary lets its workers drain and exits 0, leaving none behind.
  const workerPids = childrenOf(gw.child.pid as number);
  t.equal(workerPids.length, 2, "two worker processes");
  gw.child.kill("SIGTERM");
  const exit = await within(gw.exited, CHILD_EVENT_MS);
  t.same(exit, { code: 0, signal: null }, "the primary exits 0");
  t.same(workerPids.filter(isRunning), [], "no worker is left running");
  t.ok(
    gw.lines.some((line) => line.msg === "shutting down workers" && line.signal === "SIGTERM"),
    "the primary logged the shutdown",
  );
  t.equal(gw.stderr(), "");
});

t.test("workers > 1 with the memory store is a configuration error", async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, "gateway.yaml");
  fs.writeFileSync(file, ["server_name: example.org", "workers: 2", `jwt: {secret: "${SECRET}"}`, "store: {type: memory}", ""].join("\n"));
  const run = await runCli(["--config", file]);
  t.equal(run.code, 2, "exit 2 before listening");
  t.equal(run.stderr, `${file}:2:1: workers: several workers need a shared store: store.type sqlite or redis\n`);
  t.equal(run.stdout, "");
});
