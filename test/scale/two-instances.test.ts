/**
 * Two gateway processes (the compiled CLI, spawned twice with the same file but the listen port) on one
 * Redis (`REDIS_URL`, started by .ci/run) and one fake homeserver: what one instance does, the other
 * knows (docs/scaling.md).
 * - a session started on A works on B; a refresh on A followed by reuse of the old token on B is theft,
 *   and the session then dies on both, A learning it from the revocation stream within `store.revocation_poll`;
 * - rate-limit counters live in Redis: a login limit is reached through A and B together.
 * Skipped without REDIS_URL. Each test has its own key prefix, deleted at teardown.
 */
import { Redis } from "ioredis";
import t, { type Test } from "tap";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { call, freePort, login, type Reply } from "../helpers/http.js";
import { buildOnce, type CliProcess, sleep, startCli } from "../helpers/processes.js";
import { ALICE, keysMatching, limitsCountedInRedis, ownKeyPrefix, SECRET, WHOAMI } from "./shared.js";

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) {
  t.plan(0, "REDIS_URL is not set: no Redis to test against (.ci/run starts one)");
  process.exit(0);
}

t.before(buildOnce);

const DAY_MS = 86_400_000;
/** The default of `store.revocation_poll`, which these instances run with. */
const REVOCATION_POLL_MS = 1_000;

async function homeserverFor(t: Test): Promise<FakeHomeserver> {
  const homeserver = await startFakeHomeserver("example.org");
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  return homeserver;
}

/** One config for both instances but the port: same JWT secret (so the store key), same Redis and prefix. */
function configText(port: number, homeserver: FakeHomeserver, keyPrefix: string, rateLimits: string): string {
  return [
    "server_name: example.org",
    `listen: {host: 127.0.0.1, port: ${port}}`,
    `upstream: {url: "${homeserver.url}", timeout: 10s}`,
    `jwt: {secret: "${SECRET}"}`,
    // Strict single use: any reuse of a used refresh token is theft.
    "tokens: {access_ttl: 5m, refresh_reuse_grace: 0s}",
    `store: {type: redis, url: "${REDIS_URL}", redis: {key_prefix: "${keyPrefix}"}}`,
    `rate_limits: ${rateLimits}`,
    "log: {level: info}",
    "",
  ].join("\n");
}

/** Gateways A and B, sharing a Redis key prefix of their own. */
async function startPair(t: Test, homeserver: FakeHomeserver, label: string, rateLimits: string) {
  const prefix = ownKeyPrefix(t, REDIS_URL as string, label);
  const dir = t.testdir({});
  const portA = await freePort();
  let portB = await freePort();
  while (portB === portA) portB = await freePort();
  const [a, b] = await Promise.all([
    startCli(t, dir, portA, configText(portA, homeserver, prefix, rateLimits)),
    startCli(t, dir, portB, configText(portB, homeserver, prefix, rateLimits)),
  ]);
  return { a, b, prefix };
}

/** Calls `whoami` until it is refused or `ms` pass; returns the last reply and when it came. */
async function whoamiUntilRefused(port: number, token: string, ms: number): Promise<{ reply: Reply; at: number }> {
  const deadline = Date.now() + ms;
  let reply = await call(port, "GET", WHOAMI, { token });
  while (reply.status === 200 && Date.now() < deadline) {
    await sleep(20);
    reply = await call(port, "GET", WHOAMI, { token });
  }
  return { reply, at: Date.now() };
}

const REVOKED = { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false };

t.test("a session lives in Redis: started on A, used on B; theft on B ends it on both", async (t) => {
  const homeserver = await homeserverFor(t);
  const { a, b, prefix } = await startPair(t, homeserver, "session", "{enabled: false}");

  const first = await login(a.port);
  t.equal(first.status, 200);
  const onB = await call(b.port, "GET", WHOAMI, { token: first.body.access_token });
  t.equal(onB.status, 200, "B finds the session A started");
  t.same(onB.body, { user_id: ALICE, device_id: first.body.device_id });

  const refreshed = await call(a.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: first.body.refresh_token } });
  t.equal(refreshed.status, 200, "refresh on A");
  t.not(refreshed.body.refresh_token, first.body.refresh_token);
  const token = refreshed.body.access_token as string;
  // Both instances now hold the session in their in-process caches.
  t.equal((await call(a.port, "GET", WHOAMI, { token })).status, 200);
  t.equal((await call(b.port, "GET", WHOAMI, { token })).status, 200);

  // Nothing sweeps Redis: every key expires by itself. After a rotation the session and its chain at the
  // refresh token's idle limit (refresh_ttl, 30d), the user's set with their longest session (90d).
  const redis = new Redis(REDIS_URL as string);
  t.teardown(() => redis.disconnect());
  const keys = await keysMatching(redis, `${prefix}*`);
  const ttlDays = async (key: string) => Math.ceil((await redis.pttl(key)) / DAY_MS);
  const kinds = await Promise.all(keys.map(async (key) => [key.slice(prefix.length).split(":")[0], await ttlDays(key)]));
  t.same(
    kinds.sort(),
    [
      ["family", 30],
      ["session", 30],
      ["user", 90],
    ],
    "key kinds and days until they expire",
  );

  // The old refresh token again, on the other instance, outside the (zero) grace: theft.
  const reuse = await call(b.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: first.body.refresh_token } });
  const theftAt = Date.now();
  t.equal(reuse.status, 401);
  t.same(reuse.body, { errcode: "M_UNKNOWN_TOKEN", error: "Invalid refresh token", soft_logout: true });
  await b.waitForLines((line) => line.event === "refresh_token_reuse" && line.user_id === ALICE);

  // Theft logs the homeserver session out; give the homeserver its token back, so that from here on a
  // 401 can only come from the gateways' own session check, not from the homeserver.
  for (let i = 0; i < 200 && homeserver.logouts.length === 0; i++) await sleep(10);
  t.equal(homeserver.logouts.length, 1, "the homeserver session was logged out");
  const upstreamToken = homeserver.logouts[0]?.token as string;
  t.notOk(homeserver.tokens.has(upstreamToken), "the homeserver forgot the session's token");
  homeserver.tokens.set(upstreamToken, { userId: ALICE, deviceId: first.body.device_id as string });

  // B ended the session itself; A drops its cached copy when it reads the revocation stream.
  const onBAfter = await whoamiUntilRefused(b.port, token, 3_000);
  t.equal(onBAfter.reply.status, 401, "refused on B");
  t.same(onBAfter.reply.body, REVOKED);
  const onAAfter = await whoamiUntilRefused(a.port, token, 3_000);
  t.equal(onAAfter.reply.status, 401, "refused on A within 3 s");
  t.same(onAAfter.reply.body, REVOKED);
  const revokedAfterMs = onAAfter.at - theftAt;
  t.comment(`A refused the session ${revokedAfterMs} ms after the theft on B (store.revocation_poll ${REVOCATION_POLL_MS} ms)`);
  // One poll interval, plus slack for a loaded machine (the tests run in parallel).
  t.ok(revokedAfterMs <= 2 * REVOCATION_POLL_MS, `within 2 × revocation_poll (${revokedAfterMs} ms)`);

  const reachedHomeserver = homeserver.received.filter((r) => r.url === WHOAMI).length;
  for (const gateway of [a, b]) {
    for (const access of [token, first.body.access_token]) {
      const reply = await call(gateway.port, "GET", WHOAMI, { token: access });
      t.equal(reply.status, 401, "refused: the newest access token and the one from before the refresh");
      t.same(reply.body, REVOKED);
    }
  }
  t.equal(homeserver.received.filter((r) => r.url === WHOAMI).length, reachedHomeserver, "refused requests never reach the homeserver");
  const again = await call(a.port, "POST", "/_matrix/client/v3/refresh", { body: { refresh_token: refreshed.body.refresh_token } });
  t.equal(again.status, 401, "and so is the newest refresh token");
  t.same(again.body, { errcode: "M_UNKNOWN_TOKEN", error: "Invalid refresh token", soft_logout: true });
  t.equal(a.stderr() + b.stderr(), "");
});

t.test("a login rate limit is counted in Redis: reached through A and B together", async (t) => {
  const homeserver = await homeserverFor(t);
  const { a, b, prefix } = await startPair(t, homeserver, "ratelimit", "{login: {per_address: {points: 3, duration: 1m}}}");
  const redis = new Redis(REDIS_URL as string);
  t.teardown(() => redis.disconnect());
  t.ok(await limitsCountedInRedis(a.port, redis, prefix), "A counts in Redis");
  t.ok(await limitsCountedInRedis(b.port, redis, prefix), "B counts in Redis");

  const tries: [string, CliProcess][] = [
    ["A", a],
    ["A", a],
    ["B", b],
  ];
  for (const [index, [name, gateway]] of tries.entries()) {
    const reply = await login(gateway.port);
    t.equal(reply.status, 200, `login ${index + 1} on ${name}`);
    // The remaining count is the shared one: B knows of A's two logins.
    t.equal(reply.headers["ratelimit-remaining"], String(2 - index), `login ${index + 1}: remaining ${2 - index}`);
  }
  for (const [name, gateway] of [
    ["A", a],
    ["B", b],
  ] as const) {
    const refused = await login(gateway.port);
    t.equal(refused.status, 429, `a 4th login on ${name} is refused`);
    t.match(refused.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: Number });
    t.same(Object.keys(refused.body).sort(), ["errcode", "error", "retry_after_ms"]);
    t.ok(refused.body.retry_after_ms > 0 && refused.body.retry_after_ms <= 60_000, "retry within the 1m window");
    t.equal(refused.headers["ratelimit-remaining"], "0");
  }
  t.equal(homeserver.logins.length, 3, "refused logins never reached the homeserver");
});
