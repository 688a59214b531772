/**
 * Issue 16: limits counted in this process are answered without a promise (`consumeNow`, fixed-window.ts and
 * token-bucket.ts), while Redis and cluster counters stay rate-limiter-flexible's and answer by promise. Pinned
 * here: the in-process fixed windows count exactly as the library's memory limiter (the one the Redis backend
 * falls back to) — boundaries, blocks, refunds, `RateLimit-*` values and `Retry-After` — and the policies give
 * the same answers on both paths, synchronously only on the in-process one.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { RateLimiterMemory } from "rate-limiter-flexible";
import t from "tap";
import { parseConfig } from "../../src/config/load.js";
import { MatrixError } from "../../src/http/errors.js";
import { fixedWindowLimiter } from "../../src/ratelimit/fixed-window.js";
import { type Limit, type Limiter, type LimiterFactory, memoryLimiters, redisLimiters, wrap } from "../../src/ratelimit/limiter.js";
import { createRateLimits, type RateLimitHeaders } from "../../src/ratelimit/policies.js";
import { tokenBucketLimiter } from "../../src/ratelimit/token-bucket.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const WHOAMI = "/_matrix/client/v3/account/whoami";
const SEND = "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/t1";

/** The library's memory limiter in the gateway's terms, as the memory backend counted before issue 16. */
const libraryLimiter = (name: string, limit: Limit): Limiter =>
  wrap(
    name,
    limit,
    new RateLimiterMemory({
      keyPrefix: name,
      points: limit.points,
      duration: limit.duration / 1000,
      blockDuration: (limit.block ?? 0) / 1000,
    }),
  );

t.test("a fixed window: exact boundaries, the block, refunds", async (t) => {
  let now = 5_000_000;
  t.capture(Date, "now", () => now);
  const limiter = fixedWindowLimiter("w", { points: 3, duration: MINUTE, block: 30 * SECOND });
  t.strictSame(limiter.consumeNow("k"), { policy: "w", allowed: true, limit: 3, remaining: 2, resetMs: MINUTE }, "the window opens");
  now += SECOND;
  t.strictSame(limiter.consumeNow("k"), { policy: "w", allowed: true, limit: 3, remaining: 1, resetMs: MINUTE - SECOND });
  t.strictSame(limiter.consumeNow("k"), { policy: "w", allowed: true, limit: 3, remaining: 0, resetMs: MINUTE - SECOND }, "the last point");
  t.strictSame(
    limiter.consumeNow("k"),
    { policy: "w", allowed: false, limit: 3, remaining: 0, resetMs: 30 * SECOND },
    "one past: the block starts",
  );
  now += 10 * SECOND;
  t.strictSame(limiter.consumeNow("k"), { policy: "w", allowed: false, limit: 3, remaining: 0, resetMs: 20 * SECOND }, "inside the block");
  now += 20 * SECOND - 1;
  t.equal(limiter.consumeNow("k").allowed, false, "a millisecond before the block ends");
  now += 1;
  t.strictSame(limiter.consumeNow("k"), { policy: "w", allowed: true, limit: 3, remaining: 2, resetMs: MINUTE }, "a new window");
  t.strictSame(limiter.consumeNow("other"), { policy: "w", allowed: true, limit: 3, remaining: 2, resetMs: MINUTE }, "keys are separate");

  await limiter.refund("k");
  t.equal(limiter.consumeNow("k").remaining, 2, "a refund gives one point back");
  await limiter.reset("k");
  t.equal(limiter.consumeNow("k").remaining, 2, "a reset forgets the key");
  now += MINUTE;
  await limiter.refund("k");
  t.equal(limiter.consumeNow("k").remaining, 2, "a refund after the window ended gives nothing to the next one");
  const fresh = fixedWindowLimiter("w", { points: 2, duration: MINUTE });
  await fresh.refund("new");
  t.equal(fresh.consumeNow("new").remaining, 1, "a refund of an unknown key counts nothing");
  await fresh.refund("new");
  await fresh.refund("new");
  t.equal(fresh.consumeNow("new").remaining, 1, "never below zero");

  const promised = await limiter.consume("p");
  limiter.consumeNow("p");
  t.equal(promised.remaining, 2, "`consume` returns a copy that the next count does not rewrite");
});

t.test("fixed windows count exactly as rate-limiter-flexible's memory limiter", async (t) => {
  let now = 10_000_000;
  t.capture(Date, "now", () => now);
  // Windows of minutes: the library deletes records by real timers, which must not fire while the test runs.
  // Whole seconds: the library turns them into seconds and back (256460 ms became 256459.99999999997).
  const seconds = (min: number, max: number) => fc.integer({ min, max }).map((s) => s * SECOND);
  const limitArb = fc.record({
    points: fc.integer({ min: 1, max: 4 }),
    duration: seconds(60, 300),
    block: fc.oneof(fc.constant(undefined), seconds(60, 600)),
  });
  const opArb = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant("consume" as const), key: fc.constantFrom("a", "b") }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("refund" as const), key: fc.constantFrom("a", "b") }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("reset" as const), key: fc.constantFrom("a", "b") }) },
    {
      weight: 3,
      arbitrary: fc.record({ op: fc.constant("advance" as const), ms: fc.oneof(fc.integer({ min: 1, max: 4 * MINUTE }), seconds(1, 240)) }),
    },
  );
  await fc.assert(
    fc.asyncProperty(limitArb, fc.array(opArb, { maxLength: 40 }), async (limit, ops) => {
      const ours = fixedWindowLimiter("p", limit);
      const theirs = libraryLimiter("p", limit);
      for (const step of ops) {
        if (step.op === "advance") now += step.ms;
        else if (step.op === "consume") {
          const expected = await theirs.consume(step.key);
          const actual = ours.consumeNow(step.key);
          if (JSON.stringify(actual) !== JSON.stringify(expected)) {
            throw new Error(`${JSON.stringify(actual)} != ${JSON.stringify(expected)}`);
          }
        } else {
          await theirs[step.op](step.key);
          await ours[step.op](step.key);
        }
      }
    }),
    { numRuns: 300 },
  );
  t.pass("300 random sequences of counts, refunds, resets and clock moves agree");
});

t.test("a sweep past 10,000 keys keeps every live count, a new key's too", async (t) => {
  let now = 20_000_000;
  t.capture(Date, "now", () => now);
  // Both sweep at most once a minute: windows and buckets that outlive a minute are live when the next sweep runs.
  const limiters = [
    fixedWindowLimiter("w", { points: 1, duration: 2 * MINUTE }),
    tokenBucketLimiter("b", { points: 2, duration: 2000 * SECOND, perSecond: 0.001 }),
  ];
  for (const limiter of limiters) {
    // Every point of 10,001 keys spent (the first sweep runs here).
    for (let i = 0; i <= 10_000; i++) while (limiter.consumeNow(`spent${i}`).remaining > 0);
    now += MINUTE + SECOND; // the next sweep runs with the next new key
    const counted = [];
    for (let i = 0; i < 3; i++) counted.push(limiter.consumeNow("new").allowed);
    const expected = limiter.name === "w" ? [true, false, false] : [true, true, false];
    t.strictSame(counted, expected, `${limiter.name}: a new key, inserted while a sweep runs, is counted from its first request`);
    t.equal(limiter.consumeNow("spent0").allowed, false, `${limiter.name}: a live key was not forgotten`);
  }
});

/** `rate_limits` as parsed from YAML (JSON is YAML flow syntax). */
function rateLimitConfig(block: Record<string, unknown>) {
  const yaml = [
    "server_name: example.org",
    'upstream: {url: "http://127.0.0.1:1"}',
    `jwt: {secret: "${"s".repeat(40)}"}`,
    `rate_limits: ${JSON.stringify({ enabled: true, ...block })}`,
  ].join("\n");
  return parseConfig(yaml, "fast-path.yaml").rate_limits;
}

/**
 * Counters answered only by promise, as Redis and cluster counters are: the library's memory limiter (for the
 * token buckets, which only the in-process backend keeps, the same buckets without `consumeNow`).
 */
const promisedOnly: LimiterFactory = (name, limit) => {
  if (limit.perSecond === undefined) return libraryLimiter(name, limit);
  const { consumeNow: _, ...promised } = memoryLimiters(name, limit);
  return promised;
};

type Answer = { headers: RateLimitHeaders } | { status: number; body: unknown; headers: Record<string, string> };
const refusal = (error: unknown): Answer => {
  if (!(error instanceof MatrixError)) throw error;
  return { status: error.status, body: error.body(), headers: error.headers };
};
function answerNow(count: () => RateLimitHeaders | Promise<RateLimitHeaders>): Answer | "promise" {
  try {
    const headers = count();
    return headers instanceof Promise ? "promise" : { headers };
  } catch (error) {
    return refusal(error);
  }
}
async function answerLater(count: () => RateLimitHeaders | Promise<RateLimitHeaders>): Promise<Answer> {
  try {
    return { headers: await count() };
  } catch (error) {
    return refusal(error);
  }
}

t.test("policies: in-process counters answer at once, promised ones later, with the same answers", async (t) => {
  let now = 30_000_000;
  t.capture(Date, "now", () => now);
  const config = rateLimitConfig({
    per_user: { points: 4, duration: "1m" },
    public: { per_address: { points: 2, duration: "1m" } },
    routes: { send: { points: 2, duration: "10s" } },
  });
  const fast = createRateLimits(config, memoryLimiters);
  const slow = createRateLimits(config, promisedOnly);
  const steps: [string, (limits: typeof fast) => RateLimitHeaders | Promise<RateLimitHeaders>][] = [
    ["whoami", (l) => l.authenticated("@a:example.org", "GET", WHOAMI)],
    ["send", (l) => l.authenticated("@a:example.org", "PUT", SEND)],
    ["send, the class's last point", (l) => l.authenticated("@a:example.org", "PUT", SEND)],
    ["send over its class (the user's last point)", (l) => l.authenticated("@a:example.org", "PUT", SEND)],
    ["whoami over the user's limit", (l) => l.authenticated("@a:example.org", "GET", WHOAMI)],
    ["another user", (l) => l.authenticated("@b:example.org", "GET", WHOAMI)],
    ["public", (l) => l.unauthenticated("192.0.2.1", "GET", "/_matrix/client/versions")],
    ["public", (l) => l.unauthenticated("192.0.2.1", "GET", "/_matrix/client/versions")],
    ["public over the address limit", (l) => l.unauthenticated("192.0.2.1", "GET", "/_matrix/client/versions")],
  ];
  const answers: Answer[] = [];
  for (const [what, step] of steps) {
    const now = answerNow(() => step(fast));
    t.not(now, "promise", `${what}: answered without a promise`);
    t.strictSame(await answerLater(() => step(slow)), now, `${what}: the promised path answers the same`);
    answers.push(now as Answer);
  }
  const limited = (retryAfterMs: number, limit: number) => ({
    status: 429,
    body: { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: retryAfterMs },
    headers: {
      "Retry-After": String(Math.ceil(retryAfterMs / 1000)),
      "RateLimit-Limit": String(limit),
      "RateLimit-Remaining": "0",
      "RateLimit-Reset": String(Math.ceil(retryAfterMs / 1000)),
    },
  });
  const ok = (limit: number, remaining: number, reset: number) => ({
    headers: { "RateLimit-Limit": String(limit), "RateLimit-Remaining": String(remaining), "RateLimit-Reset": String(reset) },
  });
  t.strictSame(answers, [
    ok(4, 3, 60),
    ok(2, 1, 10), // the send class is the tighter limit
    ok(2, 0, 10),
    limited(10 * SECOND, 2),
    limited(MINUTE, 4),
    ok(4, 3, 60),
    ok(2, 1, 60),
    ok(2, 0, 60),
    limited(MINUTE, 2),
  ]);
  now += MINUTE;
  t.strictSame(
    answerNow(() => fast.authenticated("@a:example.org", "GET", WHOAMI)),
    ok(4, 3, 60),
    "the next window",
  );
});

t.test("policies on promised counters answer by promise (Redis, cluster)", async (t) => {
  const limits = createRateLimits(rateLimitConfig({}), promisedOnly);
  const authenticated = limits.authenticated("@a:example.org", "GET", WHOAMI);
  const unauthenticated = limits.unauthenticated("192.0.2.1", "GET", "/_matrix/client/versions");
  t.ok(authenticated instanceof Promise, "authenticated");
  t.ok(unauthenticated instanceof Promise, "unauthenticated");
  t.strictSame(await authenticated, { "RateLimit-Limit": "600", "RateLimit-Remaining": "599", "RateLimit-Reset": "60" });
  t.strictSame(await unauthenticated, { "RateLimit-Limit": "120", "RateLimit-Remaining": "119", "RateLimit-Reset": "60" });
});

t.test(
  "the Redis backend keeps shared counters, answered by promise",
  { skip: process.env.REDIS_URL ? false : "REDIS_URL is not set" },
  async (t) => {
    const client = new Redis(process.env.REDIS_URL as string, { maxRetriesPerRequest: 1 });
    t.teardown(() => client.disconnect());
    await new Promise((resolve) => client.once("ready", resolve));
    const prefix = `fast-path-test:${process.pid}:${Date.now().toString(36)}:`;
    t.teardown(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length) await client.del(...keys);
    });
    const config = rateLimitConfig({ per_user: { points: 2, duration: "1m" } });
    const one = createRateLimits(config, redisLimiters(client, prefix));
    const two = createRateLimits(config, redisLimiters(client, prefix));
    const first = one.authenticated("@a:example.org", "GET", WHOAMI);
    t.ok(first instanceof Promise, "answered by promise");
    t.strictSame(await first, { "RateLimit-Limit": "2", "RateLimit-Remaining": "1", "RateLimit-Reset": "60" });
    t.strictSame(
      await two.authenticated("@a:example.org", "GET", WHOAMI),
      { "RateLimit-Limit": "2", "RateLimit-Remaining": "0", "RateLimit-Reset": "60" },
      "the other instance counts on the same counter",
    );
    const over = await answerLater(() => one.authenticated("@a:example.org", "GET", WHOAMI));
    t.match(over, { status: 429, headers: { "RateLimit-Remaining": "0" } }, "the third request, from either instance, is refused");
    t.equal((await client.keys(`${prefix}rl:user*`)).length, 1, "the counter is in Redis");
  },
);
