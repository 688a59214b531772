/**
 * Issue 18 part 5: switching over without logging anyone out. With `migration.accept_homeserver_tokens_until`,
 * a request carrying a homeserver token (a client logged in before the gateway went in front) is checked with
 * the homeserver's whoami (cached), proxied unchanged under its user's limits, and counted; its logout goes to
 * the homeserver. After the date, or with the key unset, such a token gets 401 M_UNKNOWN_TOKEN as before.
 */
import t, { type Test } from "tap";
import { ManualClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config/load.js";
import { bearer, type StartOptions, startGateway, type TestGateway } from "../helpers/gateway.js";
import { postJson } from "../helpers/session-api.js";
import { rateLimitsYaml } from "../ratelimit/limits.js";

const V3 = "/_matrix/client/v3";
const UNTIL = "2027-03-01";
const BEFORE = Date.parse("2027-02-28T12:00:00Z");
const MESSAGES = `${V3}/rooms/!r:example.org/messages`;
const UNKNOWN = { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false };

async function start(t: Test, options: StartOptions & { until?: string } = {}) {
  const { until = UNTIL, ...rest } = options;
  return startGateway(t, {
    clock: new ManualClock(BEFORE),
    yaml: until ? `migration: {accept_homeserver_tokens_until: "${until}"}` : "",
    ...rest,
  });
}

/** Logs alice in at the homeserver itself, as her client did before the switch: a homeserver token. */
async function homeserverToken(gw: TestGateway): Promise<string> {
  const reply = await fetch(`${gw.homeserver.url}${V3}/login`, {
    method: "POST",
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" }),
  });
  return ((await reply.json()) as { access_token: string }).access_token;
}

const whoamiCalls = (gw: TestGateway) => gw.homeserver.received.filter((r) => r.url === `${V3}/account/whoami`).length;
const counted = async (gw: TestGateway, outcome: string) =>
  (await gw.gateway.metrics.homeserverTokenRequests.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

t.test("during the window: checked with whoami (cached), proxied unchanged, counted", async (t) => {
  const gw = await start(t);
  const token = await homeserverToken(gw);
  const mark = gw.homeserver.received.length;
  for (let i = 0; i < 3; i++) {
    const reply = await gw.request(MESSAGES, { headers: bearer(token) });
    t.equal(reply.status, 200);
    t.match(reply.body, { echo: { user_id: "@alice:example.org" } }, "proxied as alice");
  }
  const proxied = gw.homeserver.received.slice(mark).filter((r) => r.url === MESSAGES);
  t.equal(proxied.length, 3);
  t.ok(
    proxied.every((r) => r.headers.authorization === `Bearer ${token}`),
    "the homeserver token is forwarded unchanged",
  );
  t.equal(whoamiCalls(gw), 1, "one whoami, then the cached answer");
  t.equal(await counted(gw, "proxied"), 3);
  t.equal((await gw.login()).user_id, "@alice:example.org", "a gateway login works as ever");

  gw.clock.advance(60_000);
  await gw.request(MESSAGES, { headers: bearer(token) });
  t.equal(whoamiCalls(gw), 2, "asked again after the cache's minute");
});

t.test("a token the homeserver does not know: 401 M_UNKNOWN_TOKEN, and not asked again at once", async (t) => {
  const gw = await start(t);
  for (let i = 0; i < 2; i++) {
    const reply = await gw.request(MESSAGES, { headers: bearer("syt_not_a_token") });
    t.equal(reply.status, 401);
    t.same(reply.body, UNKNOWN);
  }
  t.equal(whoamiCalls(gw), 1, "the refusal is cached");
  t.equal(gw.homeserver.received.filter((r) => r.url === MESSAGES).length, 0, "never proxied");
});

t.test("checking unknown tokens counts against the address (public.per_address): random tokens cannot flood whoami", async (t) => {
  const gw = await start(t, { rateLimits: rateLimitsYaml({ public: { per_address: { points: 2, duration: "1m" } } }) });
  t.capture(Date, "now", () => gw.clock.now());
  const token = await homeserverToken(gw);
  for (let i = 0; i < 5; i++)
    t.equal((await gw.request(MESSAGES, { headers: bearer(token) })).status, 200, "a cached answer costs nothing");
  t.equal((await gw.request(MESSAGES, { headers: bearer("syt_random_1") })).status, 401);
  const limited = await gw.request(MESSAGES, { headers: bearer("syt_random_2") });
  t.equal(limited.status, 429);
  t.equal(limited.body.errcode, "M_LIMIT_EXCEEDED");
  t.equal(whoamiCalls(gw), 2, "the homeserver was asked for the real token and the first random one only");
});

t.test("every per-user limit applies to the token's user", async (t) => {
  const gw = await start(t, { rateLimits: rateLimitsYaml({ per_user: { points: 2, duration: "1m" } }) });
  t.capture(Date, "now", () => gw.clock.now());
  const token = await homeserverToken(gw);
  for (let i = 0; i < 2; i++) t.equal((await gw.request(MESSAGES, { headers: bearer(token) })).status, 200);
  const limited = await gw.request(MESSAGES, { headers: bearer(token) });
  t.equal(limited.status, 429);
  t.equal(limited.body.errcode, "M_LIMIT_EXCEEDED");
  // The same user's gateway session shares the budget.
  const { access_token } = await gw.login();
  t.equal((await gw.request(MESSAGES, { headers: bearer(access_token) })).status, 429, "alice's gateway session shares it");
});

t.test("after the date, or with the key unset: refused as before, the homeserver not asked", async (t) => {
  for (const until of [UNTIL, "2027-02-28T11:00:00Z", ""]) {
    const gw = await start(t, { until });
    const token = await homeserverToken(gw);
    if (until === UNTIL) gw.clock.advance(12 * 3600_000); // 2027-03-01T00:00Z: the window has closed
    const reply = await gw.request(MESSAGES, { headers: bearer(token) });
    t.equal(reply.status, 401, `until ${until || "unset"}`);
    t.same(reply.body, UNKNOWN);
    t.equal(whoamiCalls(gw), 0);
    t.equal(gw.homeserver.received.filter((r) => r.url === MESSAGES).length, 0);
  }
});

t.test("logout with a homeserver token goes to the homeserver's logout; refresh never takes one", async (t) => {
  const gw = await start(t);
  const token = await homeserverToken(gw);
  t.equal((await gw.request(MESSAGES, { headers: bearer(token) })).status, 200);
  const out = await postJson(gw, `${V3}/logout`, {}, bearer(token));
  t.equal(out.status, 200);
  t.same(out.body, {});
  t.same(gw.homeserver.logouts, [{ path: "/logout", token }], "the homeserver's own logout, with that token");
  const after = await gw.request(MESSAGES, { headers: bearer(token) });
  t.equal(after.status, 401, "the logged-out token stops working at once (its cached answer is forgotten)");

  const other = await homeserverToken(gw);
  t.equal((await postJson(gw, `${V3}/logout/all`, {}, bearer(other))).status, 200);
  t.same(gw.homeserver.logouts.at(-1), { path: "/logout/all", token: other });
  t.equal(await counted(gw, "logout"), 2);

  const refresh = await postJson(gw, "/_matrix/client/v1/refresh", { refresh_token: "syr_homeserver_refresh_token" });
  t.equal(refresh.status, 401);
  t.equal(refresh.body.errcode, "M_UNKNOWN_TOKEN");
});

t.test("the key takes an ISO 8601 date or date-time", async (t) => {
  const parse = (value: string) =>
    parseConfig(
      `server_name: example.org\njwt: {secret: "${"s".repeat(40)}"}\nmigration: {accept_homeserver_tokens_until: ${value}}\n`,
      "/tmp/m.yaml",
      {
        env: {},
      },
    ).migration.accept_homeserver_tokens_until;
  t.equal(parse("2027-03-01"), Date.parse("2027-03-01T00:00:00Z"), "a date is 00:00 UTC");
  t.equal(parse('"2027-03-01T12:30:00+02:00"'), Date.parse("2027-03-01T10:30:00Z"));
  t.equal(parse("2027-03-01T12:30:00"), Date.parse("2027-03-01T12:30:00Z"), "without an offset: UTC");
  t.throws(() => parse("next spring"), /migration\.accept_homeserver_tokens_until: not an ISO 8601 date/);
  t.throws(() => parse("2027-13-45"), /not an ISO 8601 date/);
});
