/**
 * `{points, duration, block}` limits of one process, counted in fixed windows exactly as rate-limiter-flexible's
 * `RateLimiterMemory` counts them (the Redis and cluster backends, and the Redis insurance limiter, still use that
 * library): a window opens with a key's first request and lasts `duration`; every request in it is counted,
 * refused ones too; the first request past `points` starts a `block` of its own length when one is set.
 *
 * Unlike the library, the count is answered synchronously (`consumeNow`): the proxied hot path then needs no
 * promise, no result object and no timer per window. Its answer is one `LimitState` per limiter, rewritten by
 * each call: read it before the next call on the same limiter (`consume`, the promise form, returns a copy).
 * Expired windows are dropped by a sweep (`sweepInterval`) once more keys than `SWEEP_ABOVE` are kept.
 *
 * Time is `Date.now()`, as the library's memory store reads it, so that both follow one clock (the tests move
 * it by hand).
 */
import type { Limit, Limiter, LimitState } from "./limiter.js";

interface Window {
  /** Requests counted in this window (or block), refused ones included. */
  count: number;
  /** When the window (or block) ends, ms; 0: never (a zero `duration`). */
  endsAt: number;
}

/** Keys kept before expired windows are swept out. */
export const SWEEP_ABOVE = 10_000;

/**
 * How often a limiter with many keys looks for ones it may forget: once per window (sooner finds nothing new),
 * but at least once a minute, so that long windows do not keep every key of the past hour; at most once a second,
 * so that short ones do not walk the whole map on every new key.
 */
export function sweepInterval(windowMs: number): number {
  return Math.min(60_000, Math.max(1000, Math.ceil(windowMs)));
}

export interface SyncLimiter extends Limiter {
  /** Counts one request against `key` now. The state returned is rewritten by the next call on this limiter. */
  consumeNow(key: string): LimitState;
}

export function fixedWindowLimiter(name: string, limit: Limit): SyncLimiter {
  const windows = new Map<string, Window>();
  const { points, duration } = limit;
  const block = limit.block ?? 0;
  const sweepEvery = sweepInterval(Math.max(duration, block));
  let nextSweep = 0;
  const state: LimitState = { policy: name, allowed: true, limit: points, remaining: points, resetMs: 0 };

  const sweep = (now: number) => {
    if (windows.size <= SWEEP_ABOVE || now < nextSweep) return;
    nextSweep = now + sweepEvery;
    for (const [key, window] of windows) if (window.endsAt !== 0 && window.endsAt <= now) windows.delete(key);
  };

  const consumeNow = (key: string): LimitState => {
    const now = Date.now();
    let window = windows.get(key);
    let resetMs: number;
    if (window !== undefined && (window.endsAt === 0 || window.endsAt > now)) {
      window.count += 1;
      resetMs = window.endsAt === 0 ? 0 : window.endsAt - now;
    } else {
      // A new window; an expired one's record is reused rather than replaced.
      if (window === undefined) {
        sweep(now);
        window = { count: 0, endsAt: 0 };
        windows.set(key, window);
      }
      window.count = 1;
      window.endsAt = duration > 0 ? now + duration : 0;
      resetMs = duration;
    }
    const allowed = window.count <= points;
    // Only the first request past the limit starts the block; later ones are counted inside it.
    if (!allowed && block > 0 && window.count === points + 1) {
      window.endsAt = now + block;
      resetMs = block;
    }
    state.allowed = allowed;
    state.remaining = allowed ? points - window.count : 0;
    state.resetMs = resetMs;
    return state;
  };

  return {
    name,
    consumeNow,
    async consume(key) {
      return { ...consumeNow(key) };
    },
    async reset(key) {
      windows.delete(key);
    },
    async refund(key) {
      // As the library's `get` then `reward`: only inside a window that still runs, and never below zero.
      const window = windows.get(key);
      if (window !== undefined && window.endsAt > Date.now() && window.count > 0) window.count -= 1;
    },
  };
}
