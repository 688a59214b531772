/**
 * Synapse's rate limiter in Synapse's terms (`synapse/api/ratelimiting.py`): a bucket of `burst_count` tokens
 * refilled at `per_second`; a request takes one token, and once the burst is spent one more request passes every
 * `1/per_second` seconds. rate-limiter-flexible counts fixed windows: with `points = burst_count` and
 * `duration = burst_count / per_second` an account that spent its burst would wait out the whole window
 * (5 logins, then ~28 minutes) where Synapse lets the next login through after ~5.5 minutes. So the in-process
 * backend keeps buckets of its own; Redis and cluster counters keep rate-limiter-flexible's window (limiter.ts).
 *
 * Time is `Date.now()`, as rate-limiter-flexible's memory store reads it, so both kinds of limiter follow the
 * same clock (the tests move it by hand).
 */
import type { Limit, Limiter, LimitState } from "./limiter.js";

interface Bucket {
  tokens: number;
  /** When `tokens` was computed, ms. */
  at: number;
}

/** Buckets that have refilled completely are forgotten once this many are kept (a full bucket is the default). */
const SWEEP_ABOVE = 10_000;

export function tokenBucketLimiter(name: string, limit: Limit & { perSecond: number }): Limiter {
  const buckets = new Map<string, Bucket>();
  const burst = limit.points;
  const perMs = limit.perSecond / 1000;

  const read = (key: string, now: number): Bucket => {
    const bucket = buckets.get(key);
    if (!bucket) return { tokens: burst, at: now };
    return { tokens: Math.min(burst, bucket.tokens + (now - bucket.at) * perMs), at: now };
  };
  const sweep = (now: number) => {
    if (buckets.size <= SWEEP_ABOVE) return;
    for (const [key, bucket] of buckets) if (bucket.tokens + (now - bucket.at) * perMs >= burst) buckets.delete(key);
  };
  /** Until the next whole token, ms: what a refused client waits (`retry_after_ms`). */
  const untilNextToken = (tokens: number) => Math.ceil((Math.floor(tokens) + 1 - tokens) / perMs);

  return {
    name,
    async consume(key): Promise<LimitState> {
      const now = Date.now();
      const bucket = read(key, now);
      const allowed = bucket.tokens >= 1;
      if (allowed) bucket.tokens -= 1;
      buckets.set(key, bucket);
      sweep(now);
      return { policy: name, allowed, limit: burst, remaining: Math.floor(bucket.tokens), resetMs: untilNextToken(bucket.tokens) };
    },
    async reset(key) {
      buckets.delete(key);
    },
    async refund(key) {
      const now = Date.now();
      const bucket = read(key, now);
      bucket.tokens = Math.min(burst, bucket.tokens + 1);
      buckets.set(key, bucket);
    },
  };
}
