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
import { type SyncLimiter, sweepInterval } from "./fixed-window.js";
import type { Limit, LimitState } from "./limiter.js";

interface Bucket {
  tokens: number;
  /** When `tokens` was computed, ms. */
  at: number;
}

/** Buckets that have refilled completely are forgotten once this many are kept (a full bucket is the default). */
const SWEEP_ABOVE = 10_000;

/**
 * Answered synchronously (`consumeNow`), as fixed-window.ts: one `LimitState` per limiter, rewritten by each call;
 * `consume` returns a copy.
 */
export function tokenBucketLimiter(name: string, limit: Limit & { perSecond: number }): SyncLimiter {
  const buckets = new Map<string, Bucket>();
  const burst = limit.points;
  const perMs = limit.perSecond / 1000;
  // A bucket is full again at most this long after its last use: sweeping more often finds nothing new.
  const sweepEvery = sweepInterval(burst / perMs);
  let nextSweep = 0;
  const state: LimitState = { policy: name, allowed: true, limit: burst, remaining: burst, resetMs: 0 };

  /** The key's bucket, refilled up to now (a new one is full). */
  const read = (key: string, now: number): Bucket => {
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      sweep(now);
      bucket = { tokens: burst, at: now };
      buckets.set(key, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    return bucket;
  };
  const sweep = (now: number) => {
    if (buckets.size <= SWEEP_ABOVE || now < nextSweep) return;
    nextSweep = now + sweepEvery;
    for (const [key, bucket] of buckets) if (bucket.tokens + (now - bucket.at) * perMs >= burst) buckets.delete(key);
  };
  /** Until the next whole token, ms: what a refused client waits (`retry_after_ms`). */
  const untilNextToken = (tokens: number) => Math.ceil((Math.floor(tokens) + 1 - tokens) / perMs);

  const consumeNow = (key: string): LimitState => {
    const bucket = read(key, Date.now());
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    state.allowed = allowed;
    state.remaining = Math.floor(bucket.tokens);
    state.resetMs = untilNextToken(bucket.tokens);
    return state;
  };

  return {
    name,
    consumeNow,
    async consume(key) {
      return { ...consumeNow(key) };
    },
    async reset(key) {
      buckets.delete(key);
    },
    async refund(key) {
      const bucket = read(key, Date.now());
      bucket.tokens = Math.min(burst, bucket.tokens + 1);
    },
  };
}
