/**
 * The one place where rate limiters are built. Policies ask for a limiter by name and limit; the backend is
 * chosen here and nowhere else:
 * - memory: one process (the default), counted synchronously (fixed-window.ts, token-bucket.ts);
 * - cluster: several workers of one machine share counters through the primary process (IPC), leased to
 *   the workers in batches where a limit allows it (leased.ts);
 * - redis: several gateway instances share counters in Redis; when Redis is down each instance falls
 *   back to its own in-memory counters (the insurance limiter) and returns to Redis when it is back.
 * Cluster and Redis counters are rate-limiter-flexible's, answered by a promise.
 */
import type { Redis } from "ioredis";
import { RateLimiterCluster, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { fixedWindowLimiter } from "./fixed-window.js";
import { tokenBucketLimiter } from "./token-bucket.js";

export interface Limit {
  points: number;
  /** Window length, ms. */
  duration: number;
  /** Once exceeded, the key stays blocked this long (ms). */
  block?: number | undefined;
  /**
   * Synapse's terms: a token bucket of `points` (`burst_count`) refilled at this rate (token-bucket.ts); then
   * `duration` is `burst_count / per_second`, the window the shared (Redis, cluster) counters approximate it by.
   */
  perSecond?: number | undefined;
}

/** A limit as the configuration writes it: `points` per `duration` (ms), or Synapse's `{per_second, burst_count}`. */
export interface LimitSpec {
  points?: number | undefined;
  duration?: number | undefined;
  block?: number | undefined;
  per_second?: number | undefined;
  burst_count?: number | undefined;
}

export function toLimit(spec: LimitSpec): Limit {
  if (spec.per_second !== undefined && spec.burst_count !== undefined) {
    const duration = Math.max(1000, Math.ceil((spec.burst_count / spec.per_second) * 1000));
    return { points: spec.burst_count, duration, perSecond: spec.per_second };
  }
  return { points: spec.points as number, duration: spec.duration as number, block: spec.block };
}

/** Where a key stands after a request: enough to answer 429 or to send `RateLimit-*` headers. */
export interface LimitState {
  /** The limiter's name: the policy in metrics. */
  policy: string;
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Until the window (or block) ends, ms. */
  resetMs: number;
}

export interface Limiter {
  readonly name: string;
  /** Counts one request against `key`. */
  consume(key: string): Promise<LimitState>;
  /**
   * The same count answered at once, by limiters whose counters live in this process (undefined for Redis and
   * cluster counters). Its state is rewritten by the next call on the same limiter: read it before that.
   */
  consumeNow?: ((key: string) => LimitState) | undefined;
  /**
   * The count answered at once when this process holds it (a cluster worker's lease, leased.ts); undefined, with
   * nothing counted, when the shared counter must be asked (`consume`). Its state is rewritten by the next call,
   * as `consumeNow`'s.
   */
  consumeLeased?: ((key: string) => LimitState | undefined) | undefined;
  /** Forgets `key` (a successful login clears its failure counter). */
  reset(key: string): Promise<void>;
  /** Gives back one point counted in advance for a request that turned out not to count (nothing once the window is over). */
  refund(key: string): Promise<void>;
}

export type LimiterFactory = (name: string, limit: Limit) => Limiter;

export const memoryLimiters: LimiterFactory = (name, limit) =>
  limit.perSecond !== undefined ? tokenBucketLimiter(name, { ...limit, perSecond: limit.perSecond }) : fixedWindowLimiter(name, limit);

const flexibleOptions = (name: string, limit: Limit) => ({
  keyPrefix: name,
  points: limit.points,
  duration: limit.duration / 1000,
  blockDuration: (limit.block ?? 0) / 1000,
});

/** A counter shared by the workers of one machine, kept by the primary (`RateLimiterClusterMaster`). */
export const clusterCounter = (name: string, limit: Limit): FlexibleLimiter =>
  new RateLimiterCluster({ ...flexibleOptions(name, limit), timeoutMs: 1000 });

/** Counters shared by the workers of one machine, one round trip to the primary per request (leased.ts leases them). */
export const clusterLimiters: LimiterFactory = (name, limit) => wrap(name, limit, clusterCounter(name, limit));

/** Counters in Redis, under `prefix`; in memory while Redis is unreachable. */
export function redisLimiters(client: Redis, prefix: string): LimiterFactory {
  return (name, limit) =>
    wrap(
      name,
      limit,
      new RateLimiterRedis({
        ...flexibleOptions(name, limit),
        storeClient: client,
        keyPrefix: `${prefix}rl:${name}`,
        // Not ready (down, reconnecting): answer from the insurance limiter at once instead of waiting.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(flexibleOptions(name, limit)),
      }),
    );
}

export interface FlexibleLimiter {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
  get(key: string): Promise<RateLimiterRes | null>;
  delete(key: string): Promise<boolean>;
  reward(key: string, points?: number): Promise<RateLimiterRes>;
}

/** A rate-limiter-flexible limiter in the gateway's terms (exported for the tests that hold the in-process counters to it). */
export function wrap(name: string, limit: Limit, limiter: FlexibleLimiter): Limiter {
  const state = (res: RateLimiterRes, allowed: boolean): LimitState => ({
    policy: name,
    allowed,
    limit: limit.points,
    remaining: Math.max(0, res.remainingPoints),
    resetMs: Math.max(0, res.msBeforeNext),
  });
  return {
    name,
    async consume(key) {
      try {
        return state(await limiter.consume(key), true);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return state(rejection, false);
        throw rejection;
      }
    },
    async reset(key) {
      await limiter.delete(key);
    },
    async refund(key) {
      const res = await limiter.get(key);
      if (res && res.msBeforeNext > 0 && res.consumedPoints > 0) await limiter.reward(key, 1);
    },
  };
}
