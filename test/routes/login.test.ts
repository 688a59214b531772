/**
 * `GET|POST PREFIX/login` on the seed prefix and the two modern ones: every row of the contract's
 * Login table, both request forms, and what the gateway sends to (and never asks of) the homeserver.
 */
import t, { type Test } from "tap";
import { startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { SERVER_NAME, startGateway, type TestGateway } from "../helpers/gateway.js";
import {
  decodeJwt,
  expectError,
  expectOwnHeaders,
  PREFIXES,
  postJson,
  SEED_PREFIX,
  upstreamLoginBodies,
  upstreamTokenOf,
  whoami,
} from "../helpers/session-api.js";

const ACCESS_TTL_MS = 5 * 60_000;
const NONREFRESHABLE_TTL_MS = 60 * 60_000;
/** A non-refreshable lifetime shorter than session_max_age, so `expires_in_ms` shows which one applied. */
const TOKENS = "tokens: {access_ttl: 5m, nonrefreshable_access_ttl: 1h, refresh_ttl: 1d, session_max_age: 7d, refresh_reuse_grace: 30s}";
const ALICE = `@alice:${SERVER_NAME}`;

const startLoginGateway = (t: Test) => startGateway(t, { tokens: TOKENS });

/** A password login in the seed form, with `fields` added or overriding. */
const seedLogin = (fields: Record<string, unknown> = {}) => ({
  type: "m.login.password",
  user: "alice",
  password: "wonderland",
  ...fields,
});
/** The same login in the modern `identifier` form. */
const modernLogin = (user: string, fields: Record<string, unknown> = {}) => ({
  type: "m.login.password",
  identifier: { type: "m.id.user", user },
  password: "wonderland",
  ...fields,
});
const without = (body: Record<string, unknown>, key: string) => {
  const { [key]: _dropped, ...rest } = body;
  return rest;
};

interface RefusalCase {
  name: string;
  /** A string is sent as is (not JSON-encoded). */
  body: unknown;
  status: number;
  errcode: string;
  message?: string;
  /** Whether the homeserver is asked (only for refusals it decides itself). */
  reachesHomeserver: boolean;
}

const INVALID_USER = "Invalid username or password";
const MISSING_KEYS = "Missing JSON keys.";

/**
 * Synapse's answer to each malformed body (issue 18 part 3; Synapse v1.67 measured: status, errcode and
 * error text), except where Synapse crashes with a 500: there the gateway says 400 `M_BAD_JSON`.
 */
const REFUSALS: RefusalCase[] = [
  { name: "body is not JSON", body: '{"type": "m.login.password",', status: 400, errcode: "M_NOT_JSON", message: "Content not JSON." },
  { name: "empty body", body: "", status: 400, errcode: "M_NOT_JSON", message: "Content not JSON." },
  { name: "body is an array", body: [], status: 400, errcode: "M_BAD_JSON", message: "Content must be a JSON object." },
  {
    name: "body is a JSON string",
    body: '"m.login.password"',
    status: 400,
    errcode: "M_BAD_JSON",
    message: "Content must be a JSON object.",
  },
  { name: "body is a JSON number", body: "42", status: 400, errcode: "M_BAD_JSON", message: "Content must be a JSON object." },
  { name: "body is JSON null", body: "null", status: 400, errcode: "M_BAD_JSON", message: "Content must be a JSON object." },
  { name: "empty object", body: {}, status: 400, errcode: "M_UNKNOWN", message: MISSING_KEYS },
  { name: "type missing", body: without(seedLogin(), "type"), status: 400, errcode: "M_UNKNOWN", message: MISSING_KEYS },
  {
    name: "neither user nor identifier",
    body: without(seedLogin(), "user"),
    status: 400,
    errcode: "M_INVALID_PARAM",
    message: "Invalid login submission",
  },
  {
    name: "identifier without user",
    body: seedLogin({ user: undefined, identifier: { type: "m.id.user" } }),
    status: 400,
    errcode: "M_UNKNOWN",
    message: "User identifier is missing 'user' key",
  },
  {
    name: "identifier without type",
    body: modernLogin("alice", { identifier: { user: "alice" } }),
    status: 400,
    errcode: "M_MISSING_PARAM",
    message: "'identifier' dict has no key 'type'",
  },
  {
    name: "password missing",
    body: without(seedLogin(), "password"),
    status: 400,
    errcode: "M_INVALID_PARAM",
    message: "Bad parameter: password",
  },
  {
    name: "password missing, identifier missing too: the password is checked first",
    body: { type: "m.login.password" },
    status: 400,
    errcode: "M_INVALID_PARAM",
    message: "Bad parameter: password",
  },
  {
    name: "password null",
    body: modernLogin("alice", { password: null }),
    status: 400,
    errcode: "M_INVALID_PARAM",
    message: "Bad parameter: password",
  },
  {
    name: "password is a number",
    body: seedLogin({ password: 1234 }),
    status: 400,
    errcode: "M_INVALID_PARAM",
    message: "Bad parameter: password",
  },
  // Synapse crashes (500) on a user that is not a string.
  { name: "user is a number", body: seedLogin({ user: 42 }), status: 400, errcode: "M_BAD_JSON", message: "'user' must be a string" },
  {
    name: "identifier.user is a number",
    body: modernLogin("alice", { identifier: { type: "m.id.user", user: 42 } }),
    status: 400,
    errcode: "M_BAD_JSON",
    message: "'user' must be a string",
  },
  {
    name: "identifier.user is an array",
    body: modernLogin("alice", { identifier: { type: "m.id.user", user: ["alice"] } }),
    status: 400,
    errcode: "M_BAD_JSON",
    message: "'user' must be a string",
  },
  // An empty legacy `user` is ignored, as Synapse ignores it: then there is no identifier at all.
  { name: "user is empty", body: seedLogin({ user: "" }), status: 400, errcode: "M_INVALID_PARAM", message: "Invalid login submission" },
  {
    name: "identifier is a string",
    body: modernLogin("alice", { identifier: "alice" }),
    status: 400,
    errcode: "M_MISSING_PARAM",
    message: "'identifier' dict has no key 'type'",
  },
  // Synapse crashes (500) on these two.
  {
    name: "identifier is a number",
    body: modernLogin("alice", { identifier: 42 }),
    status: 400,
    errcode: "M_BAD_JSON",
    message: "'identifier' must be an object",
  },
  {
    name: 'identifier is ["type"]',
    body: modernLogin("alice", { identifier: ["type"] }),
    status: 400,
    errcode: "M_BAD_JSON",
    message: "'identifier' must be an object",
  },
  {
    name: "identifier is null",
    body: modernLogin("alice", { identifier: null }),
    status: 400,
    errcode: "M_INVALID_PARAM",
    message: "Invalid login submission",
  },
  {
    name: "device_id is a number",
    body: seedLogin({ device_id: 7 }),
    status: 400,
    errcode: "M_BAD_JSON",
    message: "'device_id' must be a string",
  },
  {
    name: "initial_device_display_name is an object",
    body: seedLogin({ initial_device_display_name: {} }),
    status: 400,
    errcode: "M_BAD_JSON",
    message: "'initial_device_display_name' must be a string",
  },
  {
    name: "refresh_token is a string",
    body: seedLogin({ refresh_token: "true" }),
    status: 400,
    errcode: "M_UNKNOWN",
    message: "`refresh_token` should be true or false.",
  },
  {
    name: "refresh_token is null",
    body: seedLogin({ refresh_token: null }),
    status: 400,
    errcode: "M_UNKNOWN",
    message: "`refresh_token` should be true or false.",
  },
  {
    name: "refresh_token is checked before the type",
    body: { refresh_token: "yes" },
    status: 400,
    errcode: "M_UNKNOWN",
    message: "`refresh_token` should be true or false.",
  },
  {
    name: "identifier of another type",
    body: modernLogin("alice", { identifier: { type: "m.id.phone", phone: "1234" } }),
    status: 400,
    errcode: "M_UNKNOWN",
    message: "Unknown login identifier type",
  },
  // The seed's own request example, misspelling included.
  {
    name: "the seed's misspelled example",
    body: { type: "m.login.pasword", user: "cheeky_monkey", password: "ilovebananas" },
    status: 400,
    errcode: "M_UNKNOWN",
    message: "Bad login type.",
  },
  { name: "type is empty", body: seedLogin({ type: "" }), status: 400, errcode: "M_UNKNOWN", message: "Bad login type." },
  { name: "type is not a string", body: seedLogin({ type: 1 }), status: 400, errcode: "M_INVALID_PARAM", message: "Bad parameter: type" },
  {
    name: "m.login.application_service without a token: never reaches the homeserver",
    body: { type: "m.login.application_service", identifier: { type: "m.id.user", user: "alice" } },
    status: 401,
    errcode: "M_MISSING_TOKEN",
    message: "Missing access token",
  },
  {
    name: "wrong password",
    body: seedLogin({ password: "looking-glass" }),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
    reachesHomeserver: true,
  },
  {
    name: "unknown user",
    body: seedLogin({ user: "mallory" }),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
    reachesHomeserver: true,
  },
  {
    name: "wrong password, modern form",
    body: modernLogin(ALICE, { password: "nope" }),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
    reachesHomeserver: true,
  },
  // A user of another server can never log in here: refused as an unknown user, without asking the homeserver.
  {
    name: "user ID of another server",
    body: seedLogin({ user: "@alice:other.org" }),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
  },
  {
    name: "user ID of another server, modern form",
    body: modernLogin("@alice:other.org"),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
  },
  {
    name: "server name that only starts like ours",
    body: seedLogin({ user: `@alice:${SERVER_NAME}.evil` }),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
  },
  {
    name: "user ID without a server name",
    body: seedLogin({ user: "@alice" }),
    status: 403,
    errcode: "M_FORBIDDEN",
    message: INVALID_USER,
  },
].map((row) => ({ reachesHomeserver: false, ...row }));

/** Both request forms, each with a localpart and a full user ID: all are alice. */
const USER_FORMS: { name: string; body: Record<string, unknown> }[] = [
  { name: "seed form, localpart", body: seedLogin() },
  { name: "seed form, full user ID", body: seedLogin({ user: ALICE }) },
  { name: "modern form, localpart", body: modernLogin("alice") },
  { name: "modern form, full user ID", body: modernLogin(ALICE) },
];
/** `refresh_token` as a client may send it: absent, false, true. */
const REFRESH_REQUESTS: { name: string; fields: Record<string, unknown>; asks: boolean }[] = [
  { name: "no refresh_token field", fields: {}, asks: false },
  { name: "refresh_token: false", fields: { refresh_token: false }, asks: false },
  { name: "refresh_token: true", fields: { refresh_token: true }, asks: true },
];

/** What the gateway forwards to the homeserver: always the full user ID, never a refresh_token request. */
const expectedUpstreamLogin = (extra: Record<string, unknown> = {}) => ({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: ALICE },
  password: "wonderland",
  ...extra,
});

async function expectLoginSuccess(t: Test, gw: TestGateway, reply: Awaited<ReturnType<typeof postJson>>, refreshable: boolean) {
  t.equal(reply.status, 200, "status 200");
  expectOwnHeaders(t, reply);
  const body = reply.body;
  const keys = ["access_token", "device_id", "expires_in_ms", "home_server", "user_id", ...(refreshable ? ["refresh_token"] : [])];
  t.same(Object.keys(body).sort(), keys.sort(), "exactly the contract's fields");
  t.equal(body.user_id, ALICE);
  t.equal(body.home_server, SERVER_NAME);
  t.match(body.device_id, /^\S+$/, "device_id is the homeserver's device");
  t.ok(upstreamTokenOf(gw.homeserver, body.device_id), "the homeserver knows the device");

  const ttl = refreshable ? ACCESS_TTL_MS : NONREFRESHABLE_TTL_MS;
  t.equal(body.expires_in_ms, ttl, refreshable ? "access_ttl" : "nonrefreshable_access_ttl");
  t.match(body.access_token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "a three-part compact JWT");
  const jwt = decodeJwt(body.access_token);
  t.match(jwt.header, { alg: "HS256", typ: "at+jwt" });
  t.match(jwt.payload, { sub: ALICE, exp: (gw.clock.now() + ttl) / 1000 }); // milliseconds as the fraction: expiry is exact
  if (refreshable) t.match(body.refresh_token, /^magr_[A-Za-z0-9_-]{64}$/, "an opaque refresh token");

  const me = await whoami(gw, body.access_token);
  t.equal(me.status, 200, "the access token works");
  t.same(me.body, { user_id: ALICE, device_id: body.device_id });
}

for (const prefix of PREFIXES) {
  const isSeed = prefix === SEED_PREFIX;

  t.test(`${prefix}/login`, async (t) => {
    t.test("GET lists the password flow", async (t) => {
      const gw = await startLoginGateway(t);
      const reply = await gw.request(`${prefix}/login`);
      t.equal(reply.status, 200);
      t.same(reply.body, { flows: [{ type: "m.login.password" }] });
      expectOwnHeaders(t, reply);
    });

    t.test("refusals", async (t) => {
      const gw = await startLoginGateway(t);
      for (const row of REFUSALS) {
        t.test(row.name, async (t) => {
          const loginsBefore = gw.homeserver.logins.length;
          const reply = await postJson(gw, `${prefix}/login`, row.body);
          expectError(t, reply, row.status, row.errcode, {}, row.message);
          t.equal(gw.homeserver.logins.length - loginsBefore, row.reachesHomeserver ? 1 : 0, "logins the homeserver saw");
        });
      }
    });

    t.test("success", async (t) => {
      const gw = await startLoginGateway(t);
      for (const form of USER_FORMS) {
        for (const request of REFRESH_REQUESTS) {
          // The seed API always returns a refresh token; r0/v3 only when asked.
          const refreshable = isSeed || request.asks;
          t.test(`${form.name}, ${request.name} → ${refreshable ? "refreshable" : "not refreshable"}`, async (t) => {
            const reply = await postJson(gw, `${prefix}/login`, { ...form.body, ...request.fields });
            await expectLoginSuccess(t, gw, reply, refreshable);
            t.same(upstreamLoginBodies(gw.homeserver).at(-1), expectedUpstreamLogin(), "the homeserver is never asked for a refresh token");
          });
        }
      }
    });

    t.test("device_id and initial_device_display_name are forwarded to the homeserver", async (t) => {
      const gw = await startLoginGateway(t);
      const device = { device_id: "KITCHENTABLE", initial_device_display_name: "Alice's phone" };
      const reply = await postJson(gw, `${prefix}/login`, modernLogin("alice", { ...device, refresh_token: true }));
      await expectLoginSuccess(t, gw, reply, true);
      t.equal(reply.body.device_id, "KITCHENTABLE");
      const upstream = upstreamLoginBodies(gw.homeserver);
      t.equal(upstream.length, 1);
      t.same(upstream[0], expectedUpstreamLogin(device));
      t.notOk("refresh_token" in (upstream[0] ?? {}), "the gateway keeps refresh tokens to itself");
    });

    t.test("body over 64KiB → 413 M_TOO_LARGE", async (t) => {
      const gw = await startLoginGateway(t);
      const big = JSON.stringify(seedLogin({ password: "x".repeat(65 * 1024) }));
      // Announced by Content-Length: refused before the body is read.
      expectError(t, await postJson(gw, `${prefix}/login`, big), 413, "M_TOO_LARGE");
      // Streamed (chunked, no Content-Length): refused once the limit is crossed.
      const chunks = [big.slice(0, 40_000), big.slice(40_000)];
      const body = new ReadableStream({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      });
      const streamed = await gw.request(`${prefix}/login`, { method: "POST", body, duplex: "half" } as RequestInit);
      expectError(t, streamed, 413, "M_TOO_LARGE");
      t.equal(gw.homeserver.logins.length, 0, "nothing reached the homeserver");
    });
  });
}

t.test("homeserver unreachable → 502 M_UNKNOWN", async (t) => {
  const gone = await startFakeHomeserver(SERVER_NAME);
  await gone.close();
  const gw = await startGateway(t, { homeserver: gone, tokens: TOKENS });
  for (const prefix of PREFIXES) {
    expectError(t, await postJson(gw, `${prefix}/login`, seedLogin()), 502, "M_UNKNOWN");
  }
});

t.test("homeserver slower than upstream.timeout (2s in tests) → 504 M_UNKNOWN", async (t) => {
  const gw = await startLoginGateway(t);
  gw.homeserver.setDelay(2500);
  const replies = await Promise.all(PREFIXES.map((prefix) => postJson(gw, `${prefix}/login`, seedLogin())));
  for (const reply of replies) expectError(t, reply, 504, "M_UNKNOWN");
});

t.test("headers in time, body late: one upstream.timeout deadline for both → 504 M_UNKNOWN", async (t) => {
  const gw = await startLoginGateway(t);
  // 1.2s to the headers, 1.2s more to the body: each phase alone is within the 2s allowance, the call is not.
  gw.homeserver.setDelay(1200);
  gw.homeserver.setBodyDelay(1200);
  const started = performance.now();
  expectError(t, await postJson(gw, "/_matrix/client/v3/login", seedLogin()), 504, "M_UNKNOWN");
  const elapsed = performance.now() - started;
  t.ok(elapsed >= 1900 && elapsed < 2350, `answered at the 2s deadline (after ${elapsed.toFixed(0)} ms)`);
  t.equal(gw.homeserver.logins.length, 1, "the homeserver was asked once");
});
