/**
 * `POST PREFIX/register` (issue 7, "registration"). Wrapped mode (the default with session_token
 * identity): the homeserver registers the user, and a registration that logs in is answered like a
 * login — the gateway's JWT and refresh token, the homeserver's token kept as the session's upstream
 * credential. UIA steps, `inhibit_login` and refusals pass through. Refused mode
 * (`registration.enabled: false`): 403 M_FORBIDDEN without asking the homeserver. Both are rate-limited
 * per address (rate_limits.registration.per_address).
 */
import t, { type Test } from "tap";
import { createMemoryStore } from "../../src/store/memory.js";
import { SERVER_NAME, startGateway, type TestGateway } from "../helpers/gateway.js";
import { decodeJwt, expectError, PREFIXES, postJson, type Reply, SEED_PREFIX, whoami } from "../helpers/session-api.js";
import { assertLimited, startLimited } from "../ratelimit/limits.js";

const V3 = "/_matrix/client/v3";
const ACCESS_TTL_MS = 5 * 60_000;
const NONREFRESHABLE_TTL_MS = 60 * 60_000;
/** A non-refreshable lifetime of its own, so `expires_in_ms` shows which one applied. */
const TOKENS = "tokens: {access_ttl: 5m, nonrefreshable_access_ttl: 1h, refresh_ttl: 1d, session_max_age: 7d, refresh_reuse_grace: 30s}";
const UIA_FLOWS = [{ stages: ["m.login.dummy"] }];

/** The default gateway (registration wrapped) in front of a homeserver with open registration. */
async function startRegistering(t: Test): Promise<TestGateway> {
  const gw = await startGateway(t, { tokens: TOKENS });
  gw.homeserver.enableRegistration();
  return gw;
}

const register = (gw: TestGateway, prefix: string, body: Record<string, unknown>, query = "") =>
  postJson(gw, `${prefix}/register${query}`, body);

/** The two steps of a dummy-auth registration: the UIA 401, then the completed one with `extra` fields. */
async function registerFully(
  t: Test,
  gw: TestGateway,
  prefix: string,
  username: string,
  extra: Record<string, unknown> = {},
): Promise<Reply> {
  const first = await register(gw, prefix, { username, password: "pw", ...extra });
  t.equal(first.status, 401, `${prefix}: UIA first`);
  return register(gw, prefix, { username, password: "pw", auth: { type: "m.login.dummy", session: first.body.session }, ...extra });
}

/** Every upstream token the homeserver handed out: none of them may reach the client. */
const upstreamTokens = (gw: TestGateway) => [...gw.homeserver.tokens.keys()];

t.test("the UIA 401 passes through unchanged, and the homeserver sees the body without refresh_token", async (t) => {
  const gw = await startRegistering(t);
  for (const prefix of PREFIXES) {
    const reply = await register(gw, prefix, { username: "carol", password: "pw", refresh_token: true });
    t.equal(reply.status, 401, `${prefix}: 401`);
    t.same(reply.body, { flows: UIA_FLOWS, params: {}, session: reply.body.session }, `${prefix}: the homeserver's UIA body`);
    t.type(reply.body.session, "string");
  }
  t.same(
    gw.homeserver.registerRequests.map((r) => [r.url, r.body]),
    PREFIXES.map(() => [`${V3}/register`, { username: "carol", password: "pw" }]),
    "every generation is forwarded to v3/register, refresh_token removed",
  );
});

t.test("a completed registration is wrapped like a login, on every generation", async (t) => {
  const gw = await startRegistering(t);
  // api/v1 always returns a refresh token; r0/v3 only when asked (contract, Login).
  const cases = PREFIXES.flatMap((prefix) => [
    { prefix, asked: false, refreshable: prefix === SEED_PREFIX },
    { prefix, asked: true, refreshable: true },
  ]);
  let n = 0;
  for (const { prefix, asked, refreshable } of cases) {
    const username = `user${++n}`;
    const userId = `@${username}:${SERVER_NAME}`;
    const reply = await registerFully(t, gw, prefix, username, asked ? { refresh_token: true } : {});
    const what = `${prefix} refresh_token ${asked ? "asked" : "not asked"}`;
    t.equal(reply.status, 200, `${what}: 200`);
    const expected: Record<string, unknown> = {
      user_id: userId,
      access_token: reply.body.access_token,
      expires_in_ms: refreshable ? ACCESS_TTL_MS : NONREFRESHABLE_TTL_MS,
      device_id: reply.body.device_id,
      home_server: SERVER_NAME,
    };
    if (refreshable) expected.refresh_token = reply.body.refresh_token;
    t.strictSame(reply.body, expected, `${what}: exactly a login's answer`);
    t.equal(reply.body.access_token.split(".").length, 3, `${what}: a JWT`);
    t.equal(decodeJwt(reply.body.access_token).header.alg, "HS256", `${what}: signed by the gateway`);
    if (refreshable) t.match(reply.body.refresh_token, /^magr_/, `${what}: the gateway's refresh token`);
    t.type(reply.body.device_id, "string");
    t.ok(gw.homeserver.hasUser(username), `${what}: the homeserver registered the user`);

    const text = JSON.stringify(reply.body);
    for (const token of upstreamTokens(gw)) t.notOk(text.includes(token), `${what}: no homeserver token in the answer`);

    // The new session works through the gateway, carrying the homeserver's token of the new device.
    const mark = gw.homeserver.received.length;
    const me = await whoami(gw, reply.body.access_token);
    t.equal(me.status, 200, `${what}: whoami 200`);
    t.strictSame(me.body, { user_id: userId, device_id: reply.body.device_id }, `${what}: whoami as the new user`);
    const forwarded = gw.homeserver.received.slice(mark);
    t.equal(forwarded.length, 1);
    t.equal(forwarded[0]?.userId, userId, `${what}: the homeserver authenticated its own token`);
    t.notOk(forwarded[0]?.headers.authorization?.includes(reply.body.access_token), `${what}: the JWT never reached it`);
  }
  const bodies = gw.homeserver.registerRequests.map((r) => r.body ?? {});
  t.equal(bodies.length, cases.length * 2);
  t.notOk(
    bodies.some((b) => "refresh_token" in b),
    "the homeserver was never asked for refresh tokens",
  );
});

t.test("a refresh token from a registration refreshes", async (t) => {
  const gw = await startRegistering(t);
  const reply = await registerFully(t, gw, V3, "dave", { refresh_token: true });
  t.equal(reply.status, 200);
  const refreshed = await postJson(gw, `${V3}/refresh`, { refresh_token: reply.body.refresh_token });
  t.equal(refreshed.status, 200);
  t.strictSame(Object.keys(refreshed.body).sort(), ["access_token", "expires_in_ms", "refresh_token"]);
  t.strictSame((await whoami(gw, refreshed.body.access_token)).body, { user_id: `@dave:${SERVER_NAME}`, device_id: reply.body.device_id });
});

t.test("inhibit_login passes through: no session, no tokens", async (t) => {
  const store = createMemoryStore();
  const gw = await startGateway(t, { deps: { store } });
  gw.homeserver.enableRegistration();
  const reply = await registerFully(t, gw, V3, "erin", { inhibit_login: true, refresh_token: true });
  t.equal(reply.status, 200);
  t.strictSame(reply.body, { user_id: `@erin:${SERVER_NAME}` }, "the homeserver's answer as is");
  t.equal(await store.countSessions(), 0, "the gateway started no session");
  t.equal(gw.homeserver.tokens.size, 0, "the homeserver made no device");
  t.ok(gw.homeserver.hasUser("erin"), "but registered the user");
  const last = gw.homeserver.registerRequests.at(-1)?.body;
  t.match(last, { username: "erin", password: "pw", auth: { type: "m.login.dummy" }, inhibit_login: true }, "inhibit_login forwarded");
  t.notOk(last && "refresh_token" in last, "refresh_token was not");
});

t.test("guest registration (?kind=guest) is wrapped too, with the query kept", async (t) => {
  const gw = await startRegistering(t);
  const reply = await register(gw, "/_matrix/client/r0", { refresh_token: true }, "?kind=guest");
  t.equal(reply.status, 200);
  t.strictSame(
    reply.body,
    {
      user_id: `@1:${SERVER_NAME}`,
      access_token: reply.body.access_token,
      expires_in_ms: ACCESS_TTL_MS,
      device_id: reply.body.device_id,
      home_server: SERVER_NAME,
      refresh_token: reply.body.refresh_token,
    },
    "a login's answer for the guest",
  );
  t.equal(reply.body.access_token.split(".").length, 3);
  t.same(
    gw.homeserver.registerRequests.map((r) => [r.url, r.body]),
    [[`${V3}/register?kind=guest`, {}]],
    "?kind=guest reached the homeserver; refresh_token did not",
  );
  t.strictSame((await whoami(gw, reply.body.access_token)).body, { user_id: `@1:${SERVER_NAME}`, device_id: reply.body.device_id });
});

t.test("M_USER_IN_USE passes through", async (t) => {
  const gw = await startRegistering(t);
  const reply = await register(gw, V3, { username: "alice", password: "pw" });
  t.equal(reply.status, 400);
  t.strictSame(reply.body, { errcode: "M_USER_IN_USE", error: "User ID already taken." });
});

t.test("GET register/available is public: forwarded without a token", async (t) => {
  const gw = await startRegistering(t);
  const free = await gw.request(`${V3}/register/available?username=zoe`);
  t.equal(free.status, 200);
  t.strictSame(free.body, { available: true });
  const taken = await gw.request(`${V3}/register/available?username=alice`);
  t.equal(taken.status, 400);
  t.strictSame(taken.body, { errcode: "M_USER_IN_USE", error: "User ID already taken." });
  const seen = gw.homeserver.received.map((r) => [r.method, r.url, r.headers.authorization]);
  t.same(seen, [
    ["GET", `${V3}/register/available?username=zoe`, undefined],
    ["GET", `${V3}/register/available?username=alice`, undefined],
  ]);
});

t.test("refused mode: 403 M_FORBIDDEN (a guest: Synapse's 403 M_UNKNOWN), and the homeserver sees nothing", async (t) => {
  const gw = await startGateway(t, { yaml: "registration: {enabled: false}" });
  gw.homeserver.enableRegistration();
  t.equal(gw.config.registration.enabled, false);
  for (const prefix of PREFIXES) {
    expectError(t, await register(gw, prefix, { username: "carol", password: "pw" }), 403, "M_FORBIDDEN");
    expectError(t, await register(gw, prefix, { type: "m.login.dummy" }, "?kind=guest"), 403, "M_UNKNOWN", {}, "Guest access is disabled");
  }
  t.same(gw.homeserver.received, [], "nothing was forwarded");
});

t.test("rate limit per address, in both modes", async (t) => {
  const MINUTE = 60_000;
  const loose = { points: 100_000, duration: "1h" };
  const block = { registration: { per_address: { points: 2, duration: "1m" } }, public: { per_address: loose } };
  for (const mode of ["wrapped", "refused"] as const) {
    await t.test(mode, async (t) => {
      const gw = await startLimited(t, block, mode === "refused" ? { yaml: "registration: {enabled: false}" } : {});
      gw.homeserver.enableRegistration();
      const expected = mode === "wrapped" ? 401 : 403;
      t.equal((await register(gw, V3, { username: "carol" })).status, expected, "first: counted, answered");
      t.equal((await register(gw, "/_matrix/client/r0", { username: "carol" })).status, expected, "second");
      const forwarded = gw.homeserver.received.length;
      assertLimited(t, await register(gw, SEED_PREFIX, { username: "carol" }), { retryAfterMs: MINUTE, limit: 2 }, "third");
      assertLimited(t, await register(gw, V3, {}, "?kind=guest"), { retryAfterMs: MINUTE, limit: 2 }, "guest, fourth");
      t.equal(gw.homeserver.received.length, forwarded, "limited registrations never reach the homeserver");
      gw.clock.advance(MINUTE);
      t.equal((await register(gw, V3, { username: "carol" })).status, expected, "the window reopens");
    });
  }
});
