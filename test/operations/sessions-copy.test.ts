/**
 * `sessions copy --from OLD_CONFIG`: moving an installation to another store (SQLite to Redis, or to another
 * SQLite file) without logging anybody out. A gateway on the old store logs alice in and refreshes once; it
 * stops; the sessions are copied; a gateway on the new store accepts the access token issued before the move,
 * swaps in the same homeserver credential, and rotates the refresh token. Redis only when REDIS_URL is set.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import t, { type Test } from "tap";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { call, freePort, login } from "../helpers/http.js";
import { buildOnce, CHILD_EVENT_MS, type CliProcess, runCli, startCli, within } from "../helpers/processes.js";

const SECRET = "sessions-copy-test-secret-at-least-32-bytes";
const WHOAMI = "/_matrix/client/v3/account/whoami";

t.before(buildOnce);

function configText(port: number, homeserver: FakeHomeserver, store: string, secret = SECRET): string {
  return [
    "server_name: example.org",
    `listen: {host: 127.0.0.1, port: ${port}}`,
    `upstream: {url: "${homeserver.url}", timeout: 10s}`,
    `jwt: {secret: "${secret}"}`,
    `store: ${store}`,
    "rate_limits: {enabled: false}",
    "log: {level: info, requests: false}",
    "",
  ].join("\n");
}

async function stop(gw: CliProcess): Promise<void> {
  gw.child.kill("SIGTERM");
  await within(gw.exited, CHILD_EVENT_MS);
}

async function moveAndCheck(t: Test, newStore: string): Promise<void> {
  const homeserver = await startFakeHomeserver("example.org");
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  const dir = t.testdir({});

  const oldPort = await freePort();
  const old = await startCli(t, dir, oldPort, configText(oldPort, homeserver, `{type: sqlite, path: "${path.join(dir, "old.sqlite")}"}`));
  const first = await login(old.port);
  t.equal(first.status, 200);
  const refreshed = await call(old.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: first.body.refresh_token } });
  t.equal(refreshed.status, 200, "one rotation before the move");
  const other = await login(old.port);
  t.equal(other.status, 200, "a second session");
  await stop(old);

  const newPort = await freePort();
  const newFile = path.join(dir, "new.yaml");
  fs.writeFileSync(newFile, configText(newPort, homeserver, newStore));
  const copied = await runCli(["sessions", "copy", "--from", old.file, "--config", newFile]);
  t.equal(copied.code, 0, copied.stderr);
  t.match(copied.stdout, /^copied 2 sessions from sqlite .*old\.sqlite to .*; left 0 already there and 0 past their limits\n$/);
  t.equal(copied.stderr, "");

  const again = await runCli(["sessions", "copy", "--from", old.file, "--config", newFile]);
  t.equal(again.code, 0);
  t.match(again.stdout, /^copied 0 sessions .*; left 2 already there and 0 past their limits\n$/, "a second run copies nothing");

  const moved = await startCli(t, dir, newPort, configText(newPort, homeserver, newStore));
  const before = homeserver.received.length;
  const me = await call(moved.port, "GET", WHOAMI, { token: refreshed.body.access_token });
  t.equal(me.status, 200, "the access token issued before the move works on the new store");
  t.same(me.body.user_id, "@alice:example.org");
  t.equal(homeserver.received.length, before + 1, "forwarded, with the homeserver credential it had");
  const rotated = await call(moved.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: refreshed.body.refresh_token } });
  t.equal(rotated.status, 200, "the refresh token carries on");
  const theft = await call(moved.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: first.body.refresh_token } });
  t.equal(theft.status, 401, "the token used before the move is still a used one: reuse outside the grace window is refused");
  t.equal((await call(moved.port, "GET", WHOAMI, { token: rotated.body.access_token })).status, 401, "theft ended that session");
  t.equal((await call(moved.port, "GET", WHOAMI, { token: other.body.access_token })).status, 200, "the other session is untouched");
}

t.test("sqlite → another sqlite file", async (t) => {
  const dir = t.testdir({});
  await moveAndCheck(t, `{type: sqlite, path: "${path.join(dir, "new.sqlite")}"}`);
});

t.test("sqlite → redis", { skip: process.env.REDIS_URL ? false : "REDIS_URL is not set" }, async (t) => {
  await moveAndCheck(t, `{type: redis, url: "${process.env.REDIS_URL}", redis: {key_prefix: "copy-${crypto.randomUUID()}:"}}`);
});
