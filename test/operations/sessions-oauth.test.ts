/**
 * The `sessions` command and the OAuth 2.0 API's state, in process against SQLite files: `sessions list`
 * shows which OAuth client holds a session, in a last column (`-` for `/login` sessions; the other columns as
 * before); `sessions copy` takes the registered clients along.
 */
import fs from "node:fs";
import path from "node:path";
import t from "tap";
import { sessionsCommand } from "../../src/commands/sessions.js";
import { loadConfig } from "../../src/config/load.js";
import { createStore } from "../../src/store/index.js";

const ALICE = "@alice:example.org";
const T0 = Date.UTC(2026, 10, 27, 10);
const HOUR = 3_600_000;

/** A gateway config in `dir` whose SQLite store is `dir/NAME.sqlite`; answers the config file's path. */
function writeConfig(dir: string, name: string): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      "server_name: example.org",
      "listen: {host: 127.0.0.1, port: 8080}",
      'upstream: {url: "http://127.0.0.1:9"}',
      'jwt: {secret: "sessions-list-test-secret-that-is-at-least-32-bytes"}',
      `store: {type: sqlite, path: "${path.join(dir, `${name}.sqlite`)}"}`,
      "",
    ].join("\n"),
  );
  return file;
}

t.test("sessions list: the OAuth client of each session, `-` for /login ones", async (t) => {
  const dir = t.testdir({});
  const file = writeConfig(dir, "gateway");
  const store = createStore(loadConfig(file));
  const base = { userId: ALICE, upstreamToken: "syt_x", createdAt: T0, expiresAt: T0 + 24 * HOUR };
  await store.createSession({
    ...base,
    id: "s-oauth",
    deviceId: "OAUTHDEV",
    refresh: { family: "o.f1", currentHash: "h1", currentIssuedAt: T0 + HOUR, previousHash: null, previousUsedAt: null },
    oauth: { clientId: "01JDCLIENT", scope: "urn:matrix:client:api:* urn:matrix:client:device:OAUTHDEV" },
  });
  await store.createSession({ ...base, id: "s-login", deviceId: "LOGINDEV", refresh: null });
  await store.close();

  let out = "";
  let err = "";
  const code = await sessionsCommand.main({ config: file, user: ALICE }, { out: (text) => (out += text), err: (text) => (err += text) }, [
    "list",
  ]);
  t.equal(code, 0, err);
  t.equal(err, "");
  const [header, ...rows] = out.trimEnd().split("\n");
  t.equal(
    header,
    "SESSION  USER                DEVICE    CREATED                   EXPIRES                   LAST REFRESH              CLIENT",
  );
  t.same(rows.sort(), [
    "s-login  @alice:example.org  LOGINDEV  2026-11-27T10:00:00.000Z  2026-11-28T10:00:00.000Z  -                         -",
    "s-oauth  @alice:example.org  OAUTHDEV  2026-11-27T10:00:00.000Z  2026-11-28T10:00:00.000Z  2026-11-27T11:00:00.000Z  01JDCLIENT",
  ]);
});

t.test("sessions copy: registered OAuth clients go along, on a line of their own", async (t) => {
  const dir = t.testdir({});
  const [from, to] = [writeConfig(dir, "old"), writeConfig(dir, "new")];
  const source = createStore(loadConfig(from));
  const client = { id: "01JDCLIENT", metadata: { client_name: "Client", redirect_uris: ["https://app.example.org/cb"] }, createdAt: T0 };
  await source.saveClient(client);
  await source.close();

  let out = "";
  let err = "";
  const code = await sessionsCommand.main({ from, config: to }, { out: (text) => (out += text), err: (text) => (err += text) }, ["copy"]);
  t.equal(code, 0, err);
  t.equal(
    out,
    `copied 0 sessions from sqlite ${path.join(dir, "old.sqlite")} to sqlite ${path.join(dir, "new.sqlite")}; left 0 already there and 0 past their limits\n` +
      "copied 1 OAuth clients; left 0 already there\n",
  );
  const target = createStore(loadConfig(to));
  t.teardown(() => target.close());
  t.same(await target.getClient(client.id), client);
});
