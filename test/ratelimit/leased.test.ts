/**
 * Issue 16: cluster workers lease points from the primary in batches (src/ratelimit/leased.ts) instead of one
 * IPC round trip per request. The primary here is a fake with the library's fixed-window counting (every point
 * counted, refused ones too; a refusal carries the total) answering a tick later, as IPC would, and counting
 * the calls it receives.
 */
import fc from "fast-check";
import { RateLimiterRes } from "rate-limiter-flexible";
import t from "tap";
import { parseConfig } from "../../src/config/load.js";
import { MatrixError } from "../../src/http/errors.js";
import { batchSize, leasable, leasedLimiter } from "../../src/ratelimit/leased.js";
import type { FlexibleLimiter, Limit, LimiterFactory, LimitState } from "../../src/ratelimit/limiter.js";
import { createRateLimits } from "../../src/ratelimit/policies.js";

interface FakePrimary extends FlexibleLimiter {
  calls: number;
  /** The window running for `key` at `now` (undefined: none); windows are numbered from 1 as they start. */
  windowAt(key: string, now: number): number | undefined;
}

function fakePrimary(limit: Limit, clock: { now: number }): FakePrimary {
  const windows = new Map<string, { count: number; endsAt: number; id: number }>();
  let ids = 0;
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
  const primary: FakePrimary = {
    calls: 0,
    windowAt(key, now) {
      const w = windows.get(key);
      return w !== undefined && w.endsAt > now ? w.id : undefined;
    },
    async consume(key, points = 1) {
      primary.calls += 1;
      await tick();
      let w = windows.get(key);
      if (w === undefined || w.endsAt <= clock.now) {
        w = { count: 0, endsAt: clock.now + limit.duration, id: ++ids };
        windows.set(key, w);
      }
      w.count += points;
      const res = new RateLimiterRes(Math.max(0, limit.points - w.count), w.endsAt - clock.now, w.count, false);
      await tick();
      if (w.count > limit.points) throw res;
      return res;
    },
    async get() {
      return null;
    },
    async delete(key) {
      return windows.delete(key);
    },
    async reward() {
      throw new Error("not used");
    },
  };
  return primary;
}

const LIMIT: Limit = { points: 40, duration: 60_000 };

function setup(limit = LIMIT, batch = 5) {
  const clock = { now: 1_000_000 };
  const primary = fakePrimary(limit, clock);
  const worker = () => leasedLimiter("user", limit, primary, { batch, now: () => clock.now });
  return { clock, primary, worker };
}

t.test("one round trip per batch, not per request; remaining counts the lease", async (t) => {
  const { primary, worker } = setup();
  const a = worker();
  const states: LimitState[] = [];
  for (let i = 0; i < 12; i++) states.push(await a.consume("@alice:example.org"));
  t.equal(primary.calls, 3, "12 requests, batches of 5: 3 calls");
  t.ok(
    states.every((s) => s.allowed),
    "all allowed",
  );
  t.same(
    states.map((s) => s.remaining),
    [39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28],
    "remaining: the primary's plus the unused lease",
  );
  t.match(states[11], { policy: "user", limit: 40, resetMs: 60_000 });
});

t.test("concurrent requests for one key share the batch being asked for", async (t) => {
  const { primary, worker } = setup();
  const a = worker();
  const states = await Promise.all(Array.from({ length: 10 }, () => a.consume("k")));
  t.equal(primary.calls, 2, "10 at once, batches of 5: 2 calls");
  t.equal(states.filter((s) => s.allowed).length, 10);
});

t.test("a refused batch leases the points left; then 429 with the primary's reset, without asking", async (t) => {
  const { clock, primary, worker } = setup({ points: 12, duration: 60_000 }, 5);
  const [a, b] = [worker(), worker()];
  t.match(await a.consume("k"), { allowed: true }); // a holds 5 (primary: 5)
  t.match(await b.consume("k"), { allowed: true }); // b holds 5 (primary: 10)
  for (let i = 0; i < 4; i++) t.match(await a.consume("k"), { allowed: true }, "a's lease");
  clock.now += 10_000;
  // a asks for 5 more: the primary has 2, refuses the batch (12 + 3 counted) and a leases those 2.
  t.match(await a.consume("k"), { allowed: true, remaining: 1, resetMs: 50_000 });
  t.match(await a.consume("k"), { allowed: true, remaining: 0 });
  t.equal(primary.calls, 3);
  const refused = await a.consume("k");
  t.same(refused, { policy: "user", allowed: false, limit: 12, remaining: 0, resetMs: 50_000 });
  t.match(await a.consume("k"), { allowed: false });
  t.equal(primary.calls, 3, "refused from the lease: the window is spent");
  // b still answers from its own lease (early refusal on a is bounded by b's unused points).
  for (let i = 0; i < 4; i++) t.match(await b.consume("k"), { allowed: true }, "b's lease");
  t.match(await b.consume("k"), { allowed: false, remaining: 0 }, "the 13th request of the window");
  t.equal(primary.calls, 4, "b asked once and was refused");
});

t.test("a lease ends with the primary's window; the next window starts a new one", async (t) => {
  const { clock, primary, worker } = setup({ points: 10, duration: 60_000 }, 5);
  const a = worker();
  for (let i = 0; i < 10; i++) t.match(await a.consume("k"), { allowed: true });
  t.match(await a.consume("k"), { allowed: false, resetMs: 60_000 });
  clock.now += 59_999;
  t.match(await a.consume("k"), { allowed: false, resetMs: 1 });
  t.equal(primary.calls, 2, "the second batch left the primary nothing: refused without asking");
  clock.now += 1;
  t.same(await a.consume("k"), { policy: "user", allowed: true, limit: 10, remaining: 9, resetMs: 60_000 });
  t.equal(primary.calls, 3, "a new batch in the new window");
  // Leftover leased points of a window are not carried into the next.
  clock.now += 60_000;
  t.match(await a.consume("k"), { allowed: true, remaining: 9 });
  t.equal(primary.calls, 4);
});

t.test("expired leases are forgotten", async (t) => {
  const clock = { now: 1_000_000 };
  const primary = fakePrimary(LIMIT, clock);
  const a = leasedLimiter("user", LIMIT, primary, { batch: 5, now: () => clock.now, sweepAbove: 2 });
  for (const key of ["a", "b", "c"]) await a.consume(key);
  t.equal(a.leasedKeys, 3);
  clock.now += LIMIT.duration;
  await a.consume("d");
  t.equal(a.leasedKeys, 1, "the three expired leases swept when a new key came");
  await a.reset("d");
  t.equal(a.leasedKeys, 0);
});

t.test("refund gives the point back to the lease", async (t) => {
  const { primary, worker } = setup({ points: 10, duration: 60_000 }, 5);
  const a = worker();
  for (let i = 0; i < 10; i++) await a.consume("k");
  t.match(await a.consume("k"), { allowed: false });
  await a.refund("k");
  t.match(await a.consume("k"), { allowed: true, remaining: 0 });
  t.equal(primary.calls, 2);
});

t.test("batch size and which limits are leased", async (t) => {
  t.equal(batchSize(600, 2), 37, "per_user's default with two workers");
  t.equal(batchSize(120, 4), 3);
  t.equal(batchSize(3, 2), 1);
  t.ok(leasable({ points: 600, duration: 60_000 }, 37));
  t.notOk(leasable({ points: 3, duration: 60_000 }, 1), "a batch of one saves nothing");
  t.notOk(leasable({ points: 300, duration: 300_000, block: 300_000 }, 18), "block: the plain path");
  t.notOk(leasable({ points: 100, duration: 10_000, perSecond: 10 }, 6), "token bucket: the plain path");
});

t.test("two workers sharing one primary never allow more than the limit in a window", async (t) => {
  // Steps: a group of requests issued at once (each to worker 0 or 1), then the clock moves on.
  const step = fc.record({
    requests: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 8 }),
    advance: fc.nat({ max: 7000 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (steps, batch) => {
      const limit: Limit = { points: 12, duration: 20_000 };
      const clock = { now: 1_000_000 };
      const primary = fakePrimary(limit, clock);
      const workers = [0, 1].map(() => leasedLimiter("user", limit, primary, { batch, now: () => clock.now }));
      const allowedIn = new Map<number, number>();
      for (const { requests, advance } of steps) {
        const states = await Promise.all(requests.map((w) => (workers[w] as (typeof workers)[number]).consume("k")));
        for (const state of states) {
          if (!state.allowed) continue;
          const window = primary.windowAt("k", clock.now);
          if (window === undefined) throw new Error("allowed outside the primary's window");
          allowedIn.set(window, (allowedIn.get(window) ?? 0) + 1);
          if (state.remaining > limit.points || state.remaining < 0) throw new Error(`remaining ${state.remaining}`);
        }
        clock.now += advance;
      }
      for (const [window, allowed] of allowedIn) if (allowed > limit.points) throw new Error(`window ${window}: ${allowed} allowed`);
    }),
    { numRuns: 200 },
  );
  t.pass("no window allowed more than its points");
});

/** Policies over leased limiters (batches of 4) on fake primaries; `calls` counts the round trips. */
function leasedPolicies(rateLimits: Record<string, unknown>) {
  const yaml = [
    "server_name: example.org",
    'upstream: {url: "http://127.0.0.1:1"}',
    `jwt: {secret: "${"s".repeat(40)}"}`,
    `rate_limits: ${JSON.stringify({ enabled: true, ...rateLimits })}`,
  ].join("\n");
  const config = parseConfig(yaml, "leased.yaml").rate_limits;
  const clock = { now: 1_000_000 };
  const counts = { calls: 0 };
  const factory: LimiterFactory = (name, limit) => {
    const primary = fakePrimary(limit, clock);
    const counted = {
      ...primary,
      consume: (key: string, points?: number) => {
        counts.calls += 1;
        return primary.consume(key, points);
      },
    };
    return leasedLimiter(name, limit, counted, { batch: 4, now: () => clock.now });
  };
  return { limits: createRateLimits(config, factory), counts };
}

t.test("policies: a worker answers authenticated requests at once while its leases hold them", async (t) => {
  const { limits, counts } = leasedPolicies({ per_user: { points: 20, duration: "1m" }, routes: { send: { points: 8, duration: "1m" } } });
  const user = "@a:example.org";
  const whoami = "/_matrix/client/v3/account/whoami";
  const send = "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/t1";
  const first = limits.authenticated(user, "GET", whoami);
  t.ok(first instanceof Promise, "no lease yet: the primary is asked");
  t.strictSame(await first, { "RateLimit-Limit": "20", "RateLimit-Remaining": "19", "RateLimit-Reset": "60" });
  const second = limits.authenticated(user, "GET", whoami);
  t.notOk(second instanceof Promise, "from the lease: at once");
  t.strictSame(second, { "RateLimit-Limit": "20", "RateLimit-Remaining": "18", "RateLimit-Reset": "60" });
  const firstSend = limits.authenticated(user, "PUT", send);
  t.ok(firstSend instanceof Promise, "the user's lease holds it, the route class's does not yet");
  t.strictSame(await firstSend, { "RateLimit-Limit": "8", "RateLimit-Remaining": "7", "RateLimit-Reset": "60" });
  for (let i = 6; i >= 0; i--) {
    const answer = limits.authenticated(user, "PUT", send);
    const headers = answer instanceof Promise ? await answer : answer;
    t.equal(headers["RateLimit-Remaining"], String(i));
  }
  t.equal(counts.calls, 5, "user: 3 batches of 4 for 10 requests; send: 2 for 8");
  t.throws(
    () => limits.authenticated(user, "PUT", send),
    new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: 60_000 }),
    "the class's window spent: 429 at once, from the lease",
  );
});

t.test("policies: requests waiting for a class's batch keep the user's count each was given", async (t) => {
  const { limits } = leasedPolicies({ per_user: { points: 20, duration: "1m" }, routes: { send: { points: 100, duration: "1m" } } });
  const user = "@a:example.org";
  const send = "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/t";
  await limits.authenticated(user, "GET", "/_matrix/client/v3/account/whoami"); // the user's lease, not the class's
  // Both counted at once on the user's lease, then both wait for the class's first batch.
  const [one, two] = await Promise.all([limits.authenticated(user, "PUT", `${send}1`), limits.authenticated(user, "PUT", `${send}2`)]);
  t.strictSame(one, { "RateLimit-Limit": "20", "RateLimit-Remaining": "18", "RateLimit-Reset": "60" });
  t.strictSame(two, { "RateLimit-Limit": "20", "RateLimit-Remaining": "17", "RateLimit-Reset": "60" });
});
