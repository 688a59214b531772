/**
 * Appservice identity mode lends no application-service power to users (issue 15 part 2): a homeserver skips
 * user-interactive auth (UIA) for an application service, so the gateway runs it itself for the endpoints a
 * homeserver protects with it (spec, Client-Server API, "User-interactive authentication API"), refuses the
 * password change, and ends the sessions of a deactivated account. In session_token mode nothing changes.
 */
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import t, { type Test } from "tap";
import { hashPassword } from "../../src/credentials/password-hash.js";
import { fencedEndpoint } from "../../src/routes/uia-endpoints.js";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { bearer, SERVER_NAME, type StartOptions, startGateway, type TestGateway } from "../helpers/gateway.js";
import { CORS, expectError, expectOwnHeaders, postJson, type Reply, whoami } from "../helpers/session-api.js";
import { LOOSE, loginLimits, rateLimitsYaml } from "../ratelimit/limits.js";

const AS_TOKEN = "as-token-of-the-gateway-0123456789";
const V3 = "/_matrix/client/v3";
const ALICE = `@alice:${SERVER_NAME}`;
const PASSWORDS: Record<string, string> = { alice: "file-pass-alice", bob: "file-pass-bob" };
const FLOWS = [{ stages: ["m.login.password"] }];

/** Every endpoint the gateway authenticates itself, with a body field that must reach the homeserver. */
const AUTHENTICATED: { method: "POST" | "DELETE"; endpoint: string; body: Record<string, unknown> }[] = [
  { method: "POST", endpoint: "account/deactivate", body: { erase: false } },
  { method: "POST", endpoint: "delete_devices", body: { devices: ["ABC", "DEF"] } },
  { method: "DELETE", endpoint: "devices/ABCDEF", body: {} },
  { method: "POST", endpoint: "account/3pid/add", body: { client_secret: "s", sid: "1" } },
  { method: "POST", endpoint: "account/3pid/bind", body: { client_secret: "s", sid: "1", id_server: "id.example.org" } },
  { method: "POST", endpoint: "account/3pid/delete", body: { medium: "email", address: "a@example.org" } },
  { method: "POST", endpoint: "account/3pid/unbind", body: { medium: "email", address: "a@example.org" } },
  { method: "POST", endpoint: "account/3pid", body: { three_pid_creds: { client_secret: "s", sid: "1" }, bind: false } },
  { method: "POST", endpoint: "keys/device_signing/upload", body: { master_key: { user_id: ALICE, usage: ["master"], keys: {} } } },
];
/** The same endpoints, then the refused one, as the table of src/routes/uia-endpoints.ts should hold them. */
const FENCED = [...AUTHENTICATED.map(({ method, endpoint }) => ({ method, endpoint })), { method: "POST", endpoint: "account/password" }];

/** Version segments a homeserver routes today or might tomorrow. */
const versionSegment = fc.oneof(
  fc.constantFrom("r0", "v3", "unstable", "v1", "api/v1", "v1.1"),
  fc.nat({ max: 99 }).map((n) => `v${n}`),
  fc.nat({ max: 9999 }).map((n) => `unstable/org.matrix.msc${n}`),
);

t.test("the fenced endpoints are matched under every version segment, and only for their method", async (t) => {
  const other = (method: string) => ["GET", "HEAD", "PUT", "OPTIONS", method === "POST" ? "DELETE" : "POST"];
  fc.assert(
    fc.property(versionSegment, fc.constantFrom(...FENCED), fc.boolean(), (version, { method, endpoint }, slash) => {
      const path = `/_matrix/client/${version}/${endpoint}${slash ? "/" : ""}`;
      if (fencedEndpoint(method, path) === undefined) throw new Error(`${method} ${path} not fenced`);
      if (fencedEndpoint(method, path.toUpperCase().replace("/_MATRIX/CLIENT/", "/_matrix/client/")) === undefined) {
        throw new Error(`${method} ${path} in capitals not fenced`);
      }
      // A percent-escaped letter reads as the letter to a homeserver that decodes before routing.
      const escaped = `/_matrix/client/${version}/${endpoint.replace(/[a-z]/, (letter) => `%${letter.charCodeAt(0).toString(16)}`)}`;
      if (fencedEndpoint(method, escaped) === undefined) throw new Error(`${method} ${escaped} not fenced`);
      for (const m of other(method)) if (fencedEndpoint(m, path) !== undefined) throw new Error(`${m} ${path} fenced`);
    }),
  );
  const near = [
    "account/password/email/requestToken",
    "account/3pid/email/requestToken",
    "account/3pid/msisdn/requestToken",
    "account/whoami",
    "devices",
    "keys/upload",
    "keys/device_signing",
    "account/deactivated",
  ];
  fc.assert(
    fc.property(versionSegment, fc.constantFrom(...near), fc.constantFrom("GET", "POST", "PUT", "DELETE"), (version, endpoint, method) => {
      if (fencedEndpoint(method, `/_matrix/client/${version}/${endpoint}`) !== undefined) throw new Error(`${method} ${endpoint} fenced`);
    }),
  );
  t.same(fencedEndpoint("DELETE", "/_matrix/client/v3/devices/"), {
    name: "DELETE devices/{deviceId}",
    action: "authenticate",
    endsSessions: false,
  });
  t.same(fencedEndpoint("POST", "/_matrix/client/r0/account/deactivate"), {
    name: "POST account/deactivate",
    action: "authenticate",
    endsSessions: true,
  });
  t.same(fencedEndpoint("POST", "/_matrix/client/r0/account/password"), {
    name: "POST account/password",
    action: "refuse",
    endsSessions: false,
  });
});

let usersFileText: string | undefined;
async function usersFile(t: Test): Promise<string> {
  usersFileText ??= `users:\n${(await Promise.all(Object.entries(PASSWORDS).map(async ([name, pw]) => `  ${name}: "${await hashPassword(pw)}"`))).join("\n")}\n`;
  const file = path.join(t.testdir({}), "users.yaml");
  fs.writeFileSync(file, usersFileText);
  return file;
}

async function startHomeserver(t: Test): Promise<FakeHomeserver> {
  const homeserver = await startFakeHomeserver(SERVER_NAME);
  t.teardown(() => homeserver.close());
  homeserver.addAppservice({ asToken: AS_TOKEN, userRegex: "@.*:example\\.org", senderLocalpart: "gateway" });
  return homeserver;
}

async function startAppserviceGateway(t: Test, options: { devices?: boolean } & StartOptions = {}): Promise<TestGateway> {
  const { devices = false, ...rest } = options;
  return startGateway(t, {
    homeserver: options.homeserver ?? (await startHomeserver(t)),
    yaml: [
      `credentials: {source: users_file, users_file: "${await usersFile(t)}"}`,
      `upstream_identity: {mode: appservice, as_token: "${AS_TOKEN}", register_users: true, devices: ${devices}}`,
    ].join("\n"),
    ...rest,
  });
}

async function loginAs(gw: TestGateway, user = "alice"): Promise<{ access_token: string; device_id: string }> {
  const reply = await postJson(gw, `${V3}/login`, {
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password: PASSWORDS[user],
  });
  if (reply.status !== 200) throw new Error(`login failed: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

const passwordAuth = (password: string, user = "alice", session?: string) => ({
  type: "m.login.password",
  identifier: { type: "m.id.user", user },
  password,
  ...(session === undefined ? {} : { session }),
});

function send(gw: TestGateway, method: string, path: string, token: string, body: unknown): Promise<Reply> {
  return gw.request(path, {
    method,
    body: JSON.stringify(body),
    headers: { ...bearer(token), "Content-Type": "application/json" },
  });
}

/** The requests the homeserver received after `mark`. */
const since = (gw: TestGateway, mark: number) => gw.homeserver.received.slice(mark);

/** The spec's first `401`: the flows, no stage completed yet; a fresh session id. */
function expectChallenge(t: Test, reply: Reply): void {
  t.equal(reply.status, 401, "401");
  t.same(reply.body, { flows: FLOWS, params: {}, session: reply.body.session }, "flows, params, session");
  t.match(reply.body.session, /^[A-Za-z0-9_-]{16,}$/, "a random session id");
  expectOwnHeaders(t, reply);
}

/** The `401` of a failed stage: the flows again, with `completed` and the error (spec shape). */
function expectWrongPassword(t: Test, reply: Reply, session: string): void {
  t.equal(reply.status, 401, "401");
  t.strictSame(reply.body, { errcode: "M_FORBIDDEN", error: "Invalid password", completed: [], flows: FLOWS, params: {}, session });
  expectOwnHeaders(t, reply);
}

t.test("appservice mode: the gateway runs user-interactive auth itself", async (t) => {
  const gw = await startAppserviceGateway(t);

  for (const { method, endpoint, body } of AUTHENTICATED) {
    t.test(`${method} ${endpoint}`, async (t) => {
      const { access_token } = await loginAs(gw);
      const path = `${V3}/${endpoint}`;
      const mark = gw.homeserver.received.length;

      const challenge = await send(gw, method, path, access_token, body);
      expectChallenge(t, challenge);
      const session = challenge.body.session as string;

      expectWrongPassword(
        t,
        await send(gw, method, path, access_token, { ...body, auth: passwordAuth("wrong", "alice", session) }),
        session,
      );
      expectError(
        t,
        await send(gw, method, path, access_token, { ...body, auth: passwordAuth(PASSWORDS.bob as string, "bob") }),
        403,
        "M_FORBIDDEN",
      );
      expectError(
        t,
        await send(gw, method, path, access_token, { ...body, auth: passwordAuth(PASSWORDS.alice as string, "@alice:elsewhere.org") }),
        403,
        "M_FORBIDDEN",
      );
      t.same(since(gw, mark), [], "nothing reached the homeserver");

      const done = await send(gw, method, `${path}?ts=1&user_id=%40bob%3Aexample.org`, access_token, {
        ...body,
        auth: passwordAuth(PASSWORDS.alice as string, "alice", session),
      });
      t.equal(done.status, 200, "the homeserver's answer");
      t.strictSame(done.body, { echo: { method, url: `${path}?user_id=%40alice%3Aexample.org`, user_id: ALICE, device_id: null } });
      const seen = since(gw, mark);
      t.equal(seen.length, 1, "one request reached the homeserver");
      t.equal(seen[0]?.headers.authorization, `Bearer ${AS_TOKEN}`, "with the as_token");
      t.equal(seen[0]?.url, `${path}?user_id=%40alice%3Aexample.org`, "asserting the session's user, the client's spoofs removed");
      t.strictSame(JSON.parse(seen[0]?.body ?? ""), body, "the body without `auth`");
      t.equal(seen[0]?.headers["content-length"], String(Buffer.byteLength(JSON.stringify(body))));
      t.notOk(seen[0]?.body.includes(PASSWORDS.alice as string), "the password never reaches the homeserver");
      t.notOk(
        gw.logs.some((line) => JSON.stringify(line).includes(PASSWORDS.alice as string)),
        "nor a log line",
      );
    });
  }

  t.test("every version segment is fenced: a request without auth never reaches the homeserver", async (t) => {
    const { access_token } = await loginAs(gw);
    await fc.assert(
      fc.asyncProperty(versionSegment, fc.constantFrom(...AUTHENTICATED), async (version, { method, endpoint, body }) => {
        const mark = gw.homeserver.received.length;
        const reply = await send(gw, method, `/_matrix/client/${version}/${endpoint}`, access_token, body);
        if (reply.status !== 401 || !Array.isArray(reply.body.flows)) throw new Error(`${version}/${endpoint}: ${reply.status}`);
        if (since(gw, mark).length !== 0) throw new Error(`${version}/${endpoint} reached the homeserver`);
      }),
      { numRuns: 40 },
    );
    t.pass("40 generated spellings answered 401 by the gateway");
  });

  t.test("the legacy `auth.user`, an empty DELETE body, and a client's own session id", async (t) => {
    const { access_token } = await loginAs(gw);
    const mark = gw.homeserver.received.length;
    const empty = await gw.request(`${V3}/devices/XYZ`, { method: "DELETE", headers: bearer(access_token) });
    expectChallenge(t, empty);
    const status = await send(gw, "DELETE", `${V3}/devices/XYZ`, access_token, { auth: { session: "client-kept-session" } });
    t.equal(status.status, 401);
    t.same(status.body, { flows: FLOWS, params: {}, session: "client-kept-session" }, "auth with only a session: where it stands");
    const legacy = await send(gw, "DELETE", `${V3}/devices/XYZ`, access_token, {
      auth: { type: "m.login.password", user: "alice", password: PASSWORDS.alice, session: "client-kept-session" },
    });
    t.equal(legacy.status, 200);
    t.equal(since(gw, mark).length, 1, "forwarded once");
    const dummy = await send(gw, "DELETE", `${V3}/devices/XYZ`, access_token, { auth: { type: "m.login.dummy", session: "s" } });
    t.strictSame(dummy.body, {
      errcode: "M_UNRECOGNIZED",
      error: "Unrecognised authentication type",
      completed: [],
      flows: FLOWS,
      params: {},
      session: "s",
    });
    expectError(t, await send(gw, "DELETE", `${V3}/devices/XYZ`, access_token, [1]), 400, "M_BAD_JSON");
    t.equal(since(gw, mark).length, 1, "none of these reached the homeserver");
  });

  t.test("account/password is refused, with or without auth, on any version", async (t) => {
    const { access_token } = await loginAs(gw);
    const mark = gw.homeserver.received.length;
    for (const path of [`${V3}/account/password`, "/_matrix/client/r0/account/password", "/_matrix/client/unstable/account/password/"]) {
      expectError(t, await send(gw, "POST", path, access_token, { new_password: "x" }), 403, "M_FORBIDDEN");
      const withAuth = await send(gw, "POST", path, access_token, { new_password: "x", auth: passwordAuth(PASSWORDS.alice as string) });
      expectError(t, withAuth, 403, "M_FORBIDDEN");
    }
    t.same(since(gw, mark), [], "nothing reached the homeserver");
  });

  t.test("GET and PUT pass as before", async (t) => {
    const { access_token } = await loginAs(gw);
    const list = await gw.request(`${V3}/devices`, { headers: bearer(access_token) });
    t.equal(list.status, 200);
    const put = await gw.request(`${V3}/devices/XYZ`, { method: "PUT", body: "{}", headers: bearer(access_token) });
    t.equal(put.status, 200);
    t.equal(put.body.echo.url, `${V3}/devices/XYZ?user_id=%40alice%3Aexample.org`);
  });

  t.test("a deactivated account: every gateway session of the user ends", async (t) => {
    const first = await loginAs(gw);
    const second = await loginAs(gw);
    const bob = await loginAs(gw, "bob");
    const wrong = await send(gw, "POST", `${V3}/account/deactivate`, first.access_token, { auth: passwordAuth("wrong") });
    t.equal(wrong.status, 401);
    t.equal((await whoami(gw, second.access_token)).status, 200, "a failed attempt ends nothing");
    const done = await send(gw, "POST", `${V3}/account/deactivate`, first.access_token, { auth: passwordAuth(PASSWORDS.alice as string) });
    t.equal(done.status, 200);
    for (const session of [first, second]) {
      // Revoked once the homeserver's answer has gone out.
      let reply = await whoami(gw, session.access_token);
      for (let i = 0; reply.status === 200 && i < 50; i++) reply = await whoami(gw, session.access_token);
      expectError(t, reply, 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
    }
    t.equal((await whoami(gw, bob.access_token)).status, 200, "another user's session lives on");
    const logged = gw.logs.find((line) => line.event === "account_deactivated" && Number(line.sessions) >= 2);
    t.match(logged, { user_id: ALICE, msg: "sessions revoked" }, "logged with the number of sessions ended");
  });
});

t.test("devices: true — a session with a homeserver device is forwarded as the appservice after the gateway's UIA", async (t) => {
  const gw = await startAppserviceGateway(t, { devices: true });
  const { access_token, device_id } = await loginAs(gw);
  const mark = gw.homeserver.received.length;
  const logins = gw.homeserver.logins.length;
  const done = await send(gw, "POST", `${V3}/delete_devices`, access_token, {
    devices: [device_id],
    auth: passwordAuth(PASSWORDS.alice as string),
  });
  t.equal(done.status, 200);
  const seen = since(gw, mark);
  t.equal(seen.length, 1);
  t.equal(seen[0]?.headers.authorization, `Bearer ${AS_TOKEN}`, "the as_token, not the device's token");
  t.equal(seen[0]?.url, `${V3}/delete_devices?user_id=%40alice%3Aexample.org`);
  t.equal(gw.homeserver.logins.length, logins, "the password was checked without a login at the homeserver");
  t.equal(gw.homeserver.tokens.size, 1, "and without a new device there");
});

t.test("repeated wrong passwords hit the failed-login limit of the account: 429", async (t) => {
  const gw = await startAppserviceGateway(t, {
    rateLimits: rateLimitsYaml({
      login: loginLimits({ failed_per_account: { points: 3, duration: "1h" } }),
      per_user: LOOSE,
      public: { per_address: LOOSE },
    }),
  });
  t.capture(Date, "now", () => gw.clock.now());
  const { access_token } = await loginAs(gw);
  const mark = gw.homeserver.received.length;
  const guess = (password: string) => send(gw, "POST", `${V3}/delete_devices`, access_token, { devices: [], auth: passwordAuth(password) });
  for (let i = 0; i < 3; i++) t.equal((await guess(`wrong-${i}`)).status, 401, `guess ${i + 1}: 401`);
  const limited = await guess("wrong-3");
  expectError(t, limited, 429, "M_LIMIT_EXCEEDED", { retry_after_ms: limited.body.retry_after_ms });
  t.ok(Number(limited.headers.get("retry-after")) > 0, "Retry-After");
  t.equal((await guess(PASSWORDS.alice as string)).status, 429, "the right password too, until the lock ends");
  t.equal((await postJson(gw, `${V3}/login`, passwordAuth(PASSWORDS.alice as string))).status, 429, "and a login: the same counters");
  t.same(since(gw, mark), [], "nothing reached the homeserver");
  for (const [name, value] of Object.entries(CORS)) t.equal(limited.headers.get(name), value);
});

t.test("the account's successful-login limit neither refuses nor counts user-interactive auth", async (t) => {
  const gw = await startAppserviceGateway(t, {
    rateLimits: rateLimitsYaml({
      login: loginLimits({ per_account: { points: 1, duration: "1h" } }),
      per_user: LOOSE,
      public: { per_address: LOOSE },
    }),
  });
  t.capture(Date, "now", () => gw.clock.now());
  const { access_token } = await loginAs(gw); // the one login the hour allows
  for (let i = 0; i < 3; i++) {
    const reply = await send(gw, "POST", `${V3}/delete_devices`, access_token, {
      devices: [],
      auth: passwordAuth(PASSWORDS.alice as string),
    });
    t.equal(reply.status, 200, `confirmed ${i + 1}: forwarded`);
  }
  t.equal((await postJson(gw, `${V3}/login`, passwordAuth(PASSWORDS.alice as string))).status, 429, "a second login is still refused");
});

t.test("session_token mode: unchanged, the homeserver runs its own UIA with the user's token", async (t) => {
  const gw = await startGateway(t);
  const { access_token, device_id } = await gw.login();
  const mark = gw.homeserver.received.length;
  const reply = await send(gw, "DELETE", `${V3}/devices/XYZ`, access_token, {});
  t.strictSame(reply.body, { flows: FLOWS, params: {}, session: "uia-session" }, "the homeserver's own 401");
  const password = await send(gw, "POST", `${V3}/account/password`, access_token, { new_password: "x", auth: passwordAuth("wonderland") });
  t.equal(password.status, 200, "forwarded");
  t.strictSame(JSON.parse(since(gw, mark)[1]?.body ?? ""), { new_password: "x", auth: passwordAuth("wonderland") }, "the body as sent");
  for (const request of since(gw, mark)) {
    t.not(request.headers.authorization, `Bearer ${AS_TOKEN}`);
    t.equal(gw.homeserver.tokens.get((request.headers.authorization ?? "").slice(7))?.deviceId, device_id, "the session's own token");
  }
});
