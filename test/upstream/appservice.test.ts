/**
 * Identity modes end to end (issue 7): the gateway checks passwords against its users file
 * (`credentials.source: users_file`) and acts at the homeserver as an application service
 * (`upstream_identity.mode: appservice`): every proxied request carries the `as_token` and asserts the
 * session's user with `user_id=` (Matrix spec, Application Service API, "Identity assertion"). A client
 * can never choose who it is. Also: which combinations of these keys the config refuses.
 */
import fs from "node:fs";
import path from "node:path";
import t, { type Test } from "tap";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { hashPassword } from "../../src/credentials/password-hash.js";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { bearer, SERVER_NAME, startGateway, type TestGateway, testConfig } from "../helpers/gateway.js";
import { eventually, expectError, postJson, type Reply, whoami } from "../helpers/session-api.js";

const AS_TOKEN = "as-token-of-the-gateway-0123456789";
/** The appservice's user namespace at the homeserver: everybody but `outsider`. */
const NAMESPACE = `@(?!outsider:).*:example\\.org`;
const V3 = "/_matrix/client/v3";
const ALICE = `@alice:${SERVER_NAME}`;
const INVALID = "Invalid username or password";

/** Passwords in the users file; the homeserver knows none of them (it has no password for these users). */
const FILE_USERS: Record<string, string> = {
  alice: "file-pass-alice",
  ghost: "file-pass-ghost",
  outsider: "file-pass-out",
  dave: "file-pass-dave",
};

let usersFileText: string | undefined;
async function usersFile(t: Test): Promise<string> {
  usersFileText ??= `users:\n${(
    await Promise.all(Object.entries(FILE_USERS).map(async ([name, pw]) => `  ${name}: "${await hashPassword(pw)}"`))
  ).join("\n")}\n`;
  const file = path.join(t.testdir({}), "users.yaml");
  fs.writeFileSync(file, usersFileText);
  return file;
}

/** A homeserver with the gateway registered as an appservice; `dave` and `outsider` exist there already. */
async function startHomeserver(t: Test): Promise<FakeHomeserver> {
  const homeserver = await startFakeHomeserver(SERVER_NAME);
  t.teardown(() => homeserver.close());
  homeserver.addAppservice({ asToken: AS_TOKEN, userRegex: NAMESPACE, senderLocalpart: "gateway" });
  homeserver.addUser("dave", "homeserver-pass-dave");
  homeserver.addUser("outsider", "homeserver-pass-out");
  return homeserver;
}

async function appserviceYaml(t: Test, registerUsers: boolean, devices = false): Promise<string> {
  return [
    `credentials: {source: users_file, users_file: "${await usersFile(t)}"}`,
    `upstream_identity: {mode: appservice, as_token: "${AS_TOKEN}", register_users: ${registerUsers}, devices: ${devices}}`,
  ].join("\n");
}

async function startAppserviceGateway(t: Test, registerUsers: boolean, homeserver?: FakeHomeserver, devices = false): Promise<TestGateway> {
  const hs = homeserver ?? (await startHomeserver(t));
  return startGateway(t, { homeserver: hs, yaml: await appserviceYaml(t, registerUsers, devices) });
}

const loginAs = (gw: TestGateway, user: string, password = FILE_USERS[user], extra: Record<string, unknown> = {}) =>
  postJson(gw, `${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user }, password, ...extra });

/** The requests the homeserver received after `mark`. */
const since = (gw: TestGateway, mark: number) => gw.homeserver.received.slice(mark);
const params = (url: string) => new URL(url, "http://x").searchParams;

/** Asserts the homeserver saw exactly one request, authorised as the appservice asserting `userId`. */
function expectAsserted(t: Test, gw: TestGateway, mark: number, userId: string) {
  const seen = since(gw, mark);
  t.equal(seen.length, 1, "one request reached the homeserver");
  const request = seen[0];
  if (!request) return;
  t.equal(request.headers.authorization, `Bearer ${AS_TOKEN}`, "with the as_token");
  t.same(params(request.url).getAll("user_id"), [userId], `asserting exactly ${userId}`);
  t.same(params(request.url).getAll("device_id"), [], "no device_id");
  t.same(params(request.url).getAll("org.matrix.msc3202.device_id"), [], "no MSC3202 device_id");
  t.same(params(request.url).getAll("ts"), [], "no ts");
  t.same(params(request.url).getAll("access_token"), [], "no access_token");
}

t.test("users file + appservice identity, register_users: true", async (t) => {
  const gw = await startAppserviceGateway(t, true);

  t.test("login with the users-file password gives the gateway's tokens, and registers the user once", async (t) => {
    const reply = await loginAs(gw, "alice", FILE_USERS.alice, { refresh_token: true });
    t.equal(reply.status, 200);
    t.strictSame(Object.keys(reply.body).sort(), ["access_token", "device_id", "expires_in_ms", "home_server", "refresh_token", "user_id"]);
    t.match(reply.body, { user_id: ALICE, home_server: SERVER_NAME, expires_in_ms: 5 * 60_000 });
    t.equal(reply.body.access_token.split(".").length, 3, "a JWT");
    t.match(reply.body.refresh_token, /^magr_/);
    t.match(reply.body.device_id, /^[A-Z]{10}$/, "a device id of the gateway's own");

    t.same(
      gw.homeserver.registerRequests,
      [
        {
          url: `${V3}/register`,
          body: { type: "m.login.application_service", username: "alice", inhibit_login: true },
          appservice: true,
        },
      ],
      "the homeserver registered alice through the appservice API",
    );
    t.ok(gw.homeserver.hasUser("alice"));
    t.same(gw.homeserver.logins, [], "the homeserver's own login is never used");
    t.equal(gw.homeserver.tokens.size, 0, "no homeserver device or token was made");

    const mark = gw.homeserver.received.length;
    t.equal((await loginAs(gw, "alice")).status, 200, "second login");
    t.equal((await loginAs(gw, "ALICE", FILE_USERS.alice)).status, 200, "third login, upper case");
    t.same(since(gw, mark), [], "not registered again: the homeserver saw nothing");
  });

  t.test("a user the homeserver already has: M_USER_IN_USE is fine", async (t) => {
    const reply = await loginAs(gw, "dave");
    t.equal(reply.status, 200);
    t.equal(reply.body.user_id, `@dave:${SERVER_NAME}`);
    const attempts = gw.homeserver.registerRequests.filter((r) => r.body?.username === "dave");
    t.equal(attempts.length, 1, "one registration attempt");
    const mark = gw.homeserver.received.length;
    t.equal((await loginAs(gw, "dave")).status, 200);
    t.same(since(gw, mark), [], "remembered: no second attempt");
  });

  t.test("wrong password and unknown user: 403, and the homeserver saw nothing", async (t) => {
    const mark = gw.homeserver.received.length;
    expectError(t, await loginAs(gw, "alice", "wrong"), 403, "M_FORBIDDEN", {}, INVALID);
    expectError(t, await loginAs(gw, "mallory", "file-pass-alice"), 403, "M_FORBIDDEN", {}, INVALID);
    expectError(t, await loginAs(gw, "dave", "homeserver-pass-dave"), 403, "M_FORBIDDEN", {}, INVALID);
    t.same(since(gw, mark), [], "no request reached the homeserver");
  });

  t.test("whoami and other requests: the as_token asserting the session's user", async (t) => {
    const { access_token } = (await loginAs(gw, "alice")).body;
    const mark = gw.homeserver.received.length;
    const me = await whoami(gw, access_token);
    t.equal(me.status, 200);
    t.strictSame(me.body, { user_id: ALICE }, "the homeserver answered as alice (no device: none is asserted)");
    expectAsserted(t, gw, mark, ALICE);
    t.equal(since(gw, mark)[0]?.userId, ALICE, "the homeserver acted as alice");
    t.notOk(JSON.stringify(since(gw, mark)).includes(access_token), "the JWT never reached the homeserver");
  });

  t.test("a client cannot choose who it is: user_id, ts and device_id it sends are removed", async (t) => {
    const { access_token } = (await loginAs(gw, "alice")).body;
    const spoofs = [
      "user_id=%40bob%3Aexample.org&device_id=X",
      "user_id=@bob:example.org&user_id=@dave:example.org&org.matrix.msc3202.device_id=Y",
      "device_id=X&user_id=%40gateway%3Aexample.org",
      "USER_ID=x&user_id=",
    ];
    for (const spoof of spoofs) {
      const mark = gw.homeserver.received.length;
      const reply = await gw.request(`${V3}/rooms/!r:example.org/messages?dir=b&${spoof}&limit=5`, { headers: bearer(access_token) });
      t.equal(reply.status, 200, spoof);
      t.same(reply.body.echo.user_id, ALICE, `${spoof}: acted as alice`);
      t.equal(reply.body.echo.device_id, null, `${spoof}: no device asserted`);
      expectAsserted(t, gw, mark, ALICE);
      const forwarded = params(since(gw, mark)[0]?.url ?? "");
      t.equal(forwarded.get("dir"), "b", "other parameters pass");
      t.equal(forwarded.get("limit"), "5");
    }

    // `ts` backdates what an appservice sends (spec, "Timestamp massaging"); names are read decoded, as the
    // homeserver reads them.
    const encoded = [
      "ts=1&user%5Fid=%40bob%3Aexample.org",
      "%74s=1&%75ser_id=%40bob%3Aexample.org&device%5Fid=X",
      "org%2Ematrix%2Emsc3202%2Edevice%5Fid=Y&ts=&user_i%64=@bob:example.org",
    ];
    for (const spoof of encoded) {
      const mark = gw.homeserver.received.length;
      const reply = await gw.request(`${V3}/rooms/!r:example.org/send/m.room.message/txn1?${spoof}&limit=5`, {
        method: "PUT",
        body: "{}",
        headers: bearer(access_token),
      });
      t.equal(reply.status, 200, spoof);
      t.equal(reply.body.echo.user_id, ALICE, `${spoof}: acted as alice`);
      expectAsserted(t, gw, mark, ALICE);
      t.equal(since(gw, mark)[0]?.url, `${V3}/rooms/!r:example.org/send/m.room.message/txn1?limit=5&user_id=%40alice%3Aexample.org`, spoof);
    }

    // The seed form: the token in the query string, next to a spoofed user_id.
    const mark = gw.homeserver.received.length;
    const seed = await gw.request(
      `/_matrix/client/api/v1/rooms/!r:example.org/state?user_id=%40bob%3Aexample.org&access_token=${access_token}`,
    );
    t.equal(seed.status, 200);
    t.equal(seed.body.echo.user_id, ALICE);
    expectAsserted(t, gw, mark, ALICE);
  });

  t.test("tokenless public requests lose identity-assertion parameters too", async (t) => {
    const mark = gw.homeserver.received.length;
    const reply = await gw.request(
      `${V3}/publicRooms?limit=5&user_id=%40alice%3Aexample.org&device_id=X&org.matrix.msc3202.device_id=Y&ts=1`,
    );
    t.equal(reply.status, 200);
    const seen = since(gw, mark);
    t.equal(seen.length, 1);
    t.equal(seen[0]?.url, `${V3}/publicRooms?limit=5`, "only the client's other parameters");
    t.equal(seen[0]?.headers.authorization, undefined, "no as_token on a public request");
  });

  t.test("logout does not call the homeserver; the session ends at the gateway", async (t) => {
    const { access_token } = (await loginAs(gw, "alice")).body;
    const mark = gw.homeserver.received.length;
    const out = await gw.request(`${V3}/logout`, { method: "POST", headers: bearer(access_token) });
    t.equal(out.status, 200);
    t.strictSame(out.body, {});
    t.same(since(gw, mark), [], "the homeserver saw nothing");
    t.same(gw.homeserver.logouts, []);
    expectError(t, await whoami(gw, access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
    t.same(since(gw, mark), [], "refused by the gateway");

    const other = (await loginAs(gw, "alice")).body.access_token;
    const all = await gw.request(`${V3}/logout/all`, { method: "POST", headers: bearer(other) });
    t.equal(all.status, 200);
    t.same(gw.homeserver.logouts, [], "logout/all neither");
  });

  t.test("refresh works", async (t) => {
    const login = (await loginAs(gw, "alice", FILE_USERS.alice, { refresh_token: true })).body;
    const refreshed = await postJson(gw, `${V3}/refresh`, { refresh_token: login.refresh_token });
    t.equal(refreshed.status, 200);
    t.strictSame(Object.keys(refreshed.body).sort(), ["access_token", "expires_in_ms", "refresh_token"]);
    t.not(refreshed.body.refresh_token, login.refresh_token);
    const mark = gw.homeserver.received.length;
    t.strictSame((await whoami(gw, refreshed.body.access_token)).body, { user_id: ALICE });
    expectAsserted(t, gw, mark, ALICE);
  });

  t.test("a 401 from the homeserver does not end the session", async (t) => {
    const { access_token } = (await loginAs(gw, "alice")).body;
    gw.homeserver.revokeToken(AS_TOKEN); // the homeserver no longer knows the appservice
    const refused = await whoami(gw, access_token);
    t.equal(refused.status, 401);
    t.strictSame(refused.body, { errcode: "M_UNKNOWN_TOKEN", error: "Unknown access token", soft_logout: false }, "passed on");
    gw.homeserver.addAppservice({ asToken: AS_TOKEN, userRegex: NAMESPACE, senderLocalpart: "gateway" });
    const again = await whoami(gw, access_token);
    t.equal(again.status, 200, "the session is still alive");
    t.strictSame(again.body, { user_id: ALICE });
  });

  t.test("registration through the gateway is off by default in appservice mode", async (t) => {
    const mark = gw.homeserver.received.length;
    expectError(t, await postJson(gw, `${V3}/register`, { username: "newbie", password: "x" }), 403, "M_FORBIDDEN");
    t.same(since(gw, mark), []);
  });

  t.test("a users-file user outside the namespace cannot be registered: login fails with 502", async (t) => {
    expectError(t, await loginAs(gw, "outsider"), 502, "M_UNKNOWN", {}, "The homeserver refused to register this user");
    t.match(gw.homeserver.registerRequests.at(-1), { body: { username: "outsider" }, appservice: true });
  });
});

t.test("register_users: false — the homeserver's own refusals pass through", async (t) => {
  const gw = await startAppserviceGateway(t, false);

  t.test("a user the homeserver does not know: login works, requests get the homeserver's 403", async (t) => {
    const reply = await loginAs(gw, "ghost");
    t.equal(reply.status, 200, "the users file decides the login");
    t.same(gw.homeserver.registerRequests, [], "nobody is registered");
    const mark = gw.homeserver.received.length;
    const me = await whoami(gw, reply.body.access_token);
    t.equal(me.status, 403);
    t.strictSame(me.body, { errcode: "M_FORBIDDEN", error: "Application service has not registered this user" });
    expectAsserted(t, gw, mark, `@ghost:${SERVER_NAME}`);
    t.equal((await whoami(gw, reply.body.access_token)).status, 403, "the session lives on: a 403 is not a token rejection");
  });

  t.test("a user outside the namespace regex: the homeserver's 403 passes through", async (t) => {
    const reply = await loginAs(gw, "outsider");
    t.equal(reply.status, 200);
    const mark = gw.homeserver.received.length;
    const me = await whoami(gw, reply.body.access_token);
    t.equal(me.status, 403);
    t.strictSame(me.body, { errcode: "M_FORBIDDEN", error: "Application service cannot masquerade as this user" });
    expectAsserted(t, gw, mark, `@outsider:${SERVER_NAME}`);
  });

  t.test("a user the homeserver knows works without registration", async (t) => {
    const reply = await loginAs(gw, "dave");
    t.equal(reply.status, 200);
    const me: Reply = await whoami(gw, reply.body.access_token);
    t.strictSame(me.body, { user_id: `@dave:${SERVER_NAME}` });
    t.same(gw.homeserver.registerRequests, []);
  });
});

t.test("devices: true — every session logs in at the homeserver through the appservice and is a device there", async (t) => {
  const gw = await startAppserviceGateway(t, true, undefined, true);
  /** The homeserver token behind a gateway login: the device it created for that session. */
  const deviceToken = (deviceId: string) => [...gw.homeserver.tokens].find(([, d]) => d.deviceId === deviceId)?.[0];

  t.test("login: the users file checks the password, then the appservice logs the user in and a device is made", async (t) => {
    const mark = gw.homeserver.received.length;
    const reply = await loginAs(gw, "alice", FILE_USERS.alice, {
      refresh_token: true,
      device_id: "ALICEPHONE",
      initial_device_display_name: "Phone",
    });
    t.equal(reply.status, 200);
    t.strictSame(Object.keys(reply.body).sort(), ["access_token", "device_id", "expires_in_ms", "home_server", "refresh_token", "user_id"]);
    t.match(reply.body, { user_id: ALICE, device_id: "ALICEPHONE", home_server: SERVER_NAME });
    const seen = since(gw, mark);
    t.same(
      seen.map((r) => [r.method, r.url]),
      [
        ["POST", `${V3}/register`],
        ["POST", `${V3}/login`],
      ],
      "registered, then logged in",
    );
    t.equal(seen[1]?.headers.authorization, `Bearer ${AS_TOKEN}`, "the appservice login carries the as_token");
    t.strictSame(JSON.parse(seen[1]?.body ?? "{}"), {
      type: "m.login.application_service",
      identifier: { type: "m.id.user", user: ALICE },
      device_id: "ALICEPHONE",
      initial_device_display_name: "Phone",
    });
    t.notOk(seen[1]?.body.includes(FILE_USERS.alice as string), "the password never reaches the homeserver");
    t.ok(deviceToken("ALICEPHONE"), "the homeserver has the device");

    const other = await loginAs(gw, "alice");
    t.equal(other.status, 200);
    t.match(other.body.device_id, /^[0-9A-F]{10}$/, "without device_id the homeserver picks one");
    t.not(deviceToken(other.body.device_id), deviceToken("ALICEPHONE"), "a device and token per session");
  });

  t.test("requests carry the session's device token: no as_token, no assertion, the client's spoofs removed", async (t) => {
    const { access_token, device_id } = (await loginAs(gw, "alice")).body;
    const mark = gw.homeserver.received.length;
    const me = await whoami(gw, access_token);
    t.strictSame(me.body, { user_id: ALICE, device_id }, "the homeserver knows the device");
    const reply = await gw.request(`${V3}/rooms/!r:example.org/messages?dir=b&user_id=%40bob%3Aexample.org&device_id=X&ts=1`, {
      headers: bearer(access_token),
    });
    t.strictSame(reply.body.echo, { method: "GET", url: `${V3}/rooms/!r:example.org/messages?dir=b`, user_id: ALICE, device_id });
    for (const request of since(gw, mark)) {
      t.equal(request.headers.authorization, `Bearer ${deviceToken(device_id)}`, `${request.url}: the device's token`);
      t.notOk(request.url.includes("user_id"), "no user_id");
    }
    t.notOk(JSON.stringify(since(gw, mark)).includes(access_token), "the JWT never reached the homeserver");
  });

  t.test("refresh keeps the device; logout logs it out at the homeserver", async (t) => {
    const login = (await loginAs(gw, "alice", FILE_USERS.alice, { refresh_token: true })).body;
    const token = deviceToken(login.device_id);
    const refreshed = await postJson(gw, `${V3}/refresh`, { refresh_token: login.refresh_token });
    t.equal(refreshed.status, 200);
    t.strictSame((await whoami(gw, refreshed.body.access_token)).body, { user_id: ALICE, device_id: login.device_id });
    const out = await gw.request(`${V3}/logout`, { method: "POST", headers: bearer(refreshed.body.access_token) });
    t.equal(out.status, 200);
    t.same(gw.homeserver.logouts.at(-1), { path: "/logout", token }, "the homeserver device logged out");
    t.equal(deviceToken(login.device_id), undefined);
    expectError(t, await whoami(gw, refreshed.body.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
  });

  t.test("logout/all logs the user's devices out at the homeserver", async (t) => {
    const first = (await loginAs(gw, "alice")).body;
    const second = (await loginAs(gw, "alice")).body;
    const all = await gw.request(`${V3}/logout/all`, { method: "POST", headers: bearer(second.access_token) });
    t.equal(all.status, 200);
    t.equal(gw.homeserver.logouts.at(-1)?.path, "/logout/all");
    t.equal(deviceToken(first.device_id), undefined, "the other device is gone too");
    expectError(t, await whoami(gw, first.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
  });

  t.test("refresh-token theft ends the session and logs its device out at the homeserver", async (t) => {
    const login = (await loginAs(gw, "alice", FILE_USERS.alice, { refresh_token: true })).body;
    const token = deviceToken(login.device_id);
    const refreshed = await postJson(gw, `${V3}/refresh`, { refresh_token: login.refresh_token });
    t.equal(refreshed.status, 200);
    gw.clock.advance(31_000); // past refresh_reuse_grace: reuse of the used token is theft
    const stolen = await postJson(gw, `${V3}/refresh`, { refresh_token: login.refresh_token });
    t.equal(stolen.status, 401);
    t.ok(await eventually(() => gw.homeserver.logouts.some((l) => l.path === "/logout" && l.token === token)), "the device logged out");
    t.equal(deviceToken(login.device_id), undefined);
    expectError(t, await whoami(gw, refreshed.body.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
  });

  t.test("the homeserver ending the device (401 M_UNKNOWN_TOKEN) ends the session", async (t) => {
    const login = (await loginAs(gw, "alice", FILE_USERS.alice, { refresh_token: true })).body;
    gw.homeserver.revokeToken(deviceToken(login.device_id) as string);
    expectError(t, await whoami(gw, login.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
    expectError(t, await whoami(gw, login.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false }, "Invalid access token passed.");
    const refresh = await postJson(gw, `${V3}/refresh`, { refresh_token: login.refresh_token });
    t.equal(refresh.status, 401, "the refresh token died with the session");
  });

  t.test("the homeserver refusing the appservice login: 502, and no session", async (t) => {
    const plain = await startAppserviceGateway(t, false, gw.homeserver, true);
    const before = gw.homeserver.tokens.size;
    expectError(t, await loginAs(plain, "ghost"), 502, "M_UNKNOWN", {}, "The homeserver refused to log this user in for the gateway");
    expectError(t, await loginAs(plain, "outsider"), 502, "M_UNKNOWN", {}, "The homeserver refused to log this user in for the gateway");
    t.equal(gw.homeserver.tokens.size, before, "no device made");
    t.same(await plain.gateway.sessions.list(`@ghost:${SERVER_NAME}`), [], "no gateway session either");
    const refusal = plain.logs.find((line) => line.level === "error" && line.user_id === `@outsider:${SERVER_NAME}`);
    t.match(refusal, { status: 403, errcode: "M_FORBIDDEN", msg: "logging the user in at the homeserver through the appservice failed" });
  });
});

t.test("turning devices on by reload: sessions from before keep asserting their user, new ones get a device", async (t) => {
  const gw = await startAppserviceGateway(t, true);
  const before = (await loginAs(gw, "alice")).body;
  t.equal(gw.homeserver.tokens.size, 0, "no device yet");
  t.same(gw.gateway.reload(testConfig(gw.homeserver.url, { yaml: await appserviceYaml(t, true, true) })), []);
  const after = (await loginAs(gw, "alice")).body;
  t.equal(gw.homeserver.tokens.size, 1, "the new login made a device");

  let mark = gw.homeserver.received.length;
  t.strictSame((await whoami(gw, before.access_token)).body, { user_id: ALICE }, "the old session: asserted, no device");
  expectAsserted(t, gw, mark, ALICE);
  mark = gw.homeserver.received.length;
  t.strictSame((await whoami(gw, after.access_token)).body, { user_id: ALICE, device_id: after.device_id }, "the new one: its device");
  t.not(since(gw, mark)[0]?.headers.authorization, `Bearer ${AS_TOKEN}`);

  // logout/all from the old session still reaches the homeserver, through the new session's device.
  const all = await gw.request(`${V3}/logout/all`, { method: "POST", headers: bearer(before.access_token) });
  t.equal(all.status, 200);
  t.equal(gw.homeserver.logouts.at(-1)?.path, "/logout/all");
  t.equal(gw.homeserver.tokens.size, 0, "the device is gone");
});

t.test("config: the identity combinations that are refused", async (t) => {
  const dir = t.testdir({
    "users.yaml": "users: {}\n",
    "bad-users.yaml": "users:\n  alice: nope\n  bob: 42\n",
    "not-yaml.yaml": 'users:\n  alice: "unclosed\n',
    as_token: "token-from-file\n",
  });
  const file = path.join(dir, "gw.yaml");
  const BASE = "server_name: example.org\njwt: {secret: 0123456789abcdef0123456789abcdef}\n"; // lines 1-2
  const USERS = "credentials: {source: users_file, users_file: users.yaml}\n";
  const problems = (text: string): string[] => {
    try {
      parseConfig(BASE + text, file, { env: {} });
    } catch (error) {
      if (error instanceof ConfigError) return error.message.split("\n");
      throw error;
    }
    return [];
  };
  const cases: [string, string, string[]][] = [
    [
      "users_file without appservice identity (default session_token)",
      USERS,
      [
        `${file}:1:1: upstream_identity.mode: credentials.source users_file gives no homeserver token: use upstream_identity.mode appservice`,
      ],
    ],
    [
      "users_file with session_token said explicitly",
      `${USERS}upstream_identity: {mode: session_token}\n`,
      [
        `${file}:4:21: upstream_identity.mode: credentials.source users_file gives no homeserver token: use upstream_identity.mode appservice`,
      ],
    ],
    [
      "appservice without users_file",
      "upstream_identity: {mode: appservice, as_token: x}\n",
      [
        `${file}:3:21: upstream_identity.mode: appservice identity goes with credentials.source users_file (the homeserver's own login would leave unused devices)`,
      ],
    ],
    [
      "appservice with neither as_token nor as_token_file",
      `${USERS}upstream_identity: {mode: appservice}\n`,
      [`${file}:4:1: upstream_identity: appservice identity needs exactly one of as_token and as_token_file`],
    ],
    [
      "appservice with both as_token and as_token_file",
      `${USERS}upstream_identity: {mode: appservice, as_token: x, as_token_file: as_token}\n`,
      [`${file}:4:1: upstream_identity: appservice identity needs exactly one of as_token and as_token_file`],
    ],
    [
      "as_token_file that cannot be read",
      `${USERS}upstream_identity: {mode: appservice, as_token_file: nope}\n`,
      [`${file}:4:39: upstream_identity.as_token_file: cannot read: ENOENT: no such file or directory, open '${path.join(dir, "nope")}'`],
    ],
    [
      "registration enabled with appservice",
      `${USERS}upstream_identity: {mode: appservice, as_token: x}\nregistration: {enabled: true}\n`,
      [`${file}:5:16: registration.enabled: registration through the gateway needs upstream_identity.mode session_token`],
    ],
    [
      "devices without appservice identity",
      "upstream_identity: {devices: true}\n",
      [`${file}:3:21: upstream_identity.devices: devices are logged in through the appservice: use upstream_identity.mode appservice`],
    ],
    [
      "users_file missing",
      "credentials: {source: users_file}\nupstream_identity: {mode: appservice, as_token: x}\n",
      [`${file}:3:1: credentials.users_file: credentials.source users_file needs credentials.users_file`],
    ],
    [
      "users_file that does not exist",
      "credentials: {source: users_file, users_file: missing.yaml}\nupstream_identity: {mode: appservice, as_token: x}\n",
      [`${file}:3:35: credentials.users_file: no such file: missing.yaml`],
    ],
    [
      // Checked when the config is loaded, so --check, a start and a SIGHUP reload all refuse it the same way.
      "a users file with bad entries",
      "credentials: {source: users_file, users_file: bad-users.yaml}\nupstream_identity: {mode: appservice, as_token: x}\n",
      [
        `${file}:3:35: credentials.users_file: bad-users.yaml: users.alice: not a hash made by hash-password`,
        `${file}:3:35: credentials.users_file: bad-users.yaml: users.bob: not a hash made by hash-password`,
      ],
    ],
  ];
  for (const [name, text, expected] of cases) t.same(problems(text), expected, name);
  const notYaml = problems(
    "credentials: {source: users_file, users_file: not-yaml.yaml}\nupstream_identity: {mode: appservice, as_token: x}\n",
  );
  t.equal(notYaml.length, 1, "a users file that is not YAML: one problem");
  t.ok(
    notYaml[0]?.startsWith(`${file}:3:35: credentials.users_file: not-yaml.yaml: not YAML/JSON: `),
    `a users file that is not YAML: ${notYaml[0]}`,
  );

  t.test("the accepted combination", async (t) => {
    const config = parseConfig(
      `${BASE}${USERS}upstream_identity: {mode: appservice, as_token_file: as_token, register_users: true}\n`,
      file,
      {
        env: {},
      },
    );
    t.same(
      config.upstream_identity,
      { mode: "appservice", as_token: "token-from-file", register_users: true, devices: false },
      "the token read and trimmed",
    );
    t.same(config.registration, { enabled: false }, "registration off by default with appservice");
    t.same(config.credentials, { source: "users_file", users_file: path.join(dir, "users.yaml") }, "the path resolved next to the config");
    const defaults = parseConfig(BASE, file, { env: {} });
    t.same(defaults.credentials, { source: "upstream", users_file: undefined });
    t.same(defaults.upstream_identity, { mode: "session_token", register_users: false, devices: false, as_token: undefined });
    t.same(defaults.registration, { enabled: true }, "registration wrapped by default with session_token");
  });
});
