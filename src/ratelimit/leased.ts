/**
 * Leased counters for cluster workers. The primary process keeps every shared counter (`RateLimiterCluster`),
 * and asking it once per request costs an IPC round trip and primary CPU that caps what any number of workers
 * can serve. Here a worker takes a batch of `batch` points for a key in one request (`consume(key, batch)`) and
 * answers the key's next requests from that lease, without asking, until the lease is used up or the primary's
 * window ends; then it takes the next batch.
 *
 * Accuracy: the primary counts every leased point and grants no point past `points` in a window, so the
 * requests allowed across all workers never exceed the limit. The lease ends when the primary's window ends,
 * measured from the moment the batch was asked for (the primary's clock read it later, so its window ends no
 * sooner): a leased point is never used in the next window. The price is early refusal: a worker told that the
 * window is spent refuses while the other workers may still hold leased points they have not used — at most
 * `batch - 1` each, so fewer than `(workers - 1) × batch` points of the window (with `batchSize`'s choice,
 * under an eighth of the limit), lost only if those workers see no more requests for the key in the window.
 *
 * A batch the primary refuses was refused because fewer than `batch` points were left: the library counts the
 * whole batch anyway and reports the total (`consumedPoints`), so the points still free before it are known
 * exactly, and those are leased (answering as many single-point requests would have). Nothing of the window is
 * lost to rounding, and no second round trip is needed. Once the primary has no point left, the worker answers
 * 429 with the primary's reset until the window ends, without asking again.
 *
 * Only plain `{points, duration}` limits are leased (`leasable`): a `block` starts on the request past the limit,
 * which a lease would hide from the primary, and a token bucket refills continuously instead of by window.
 * `reset` forgets this worker's lease and the primary's count; other workers keep theirs until the window ends.
 */
import { RateLimiterRes } from "rate-limiter-flexible";
import { SWEEP_ABOVE, sweepInterval } from "./fixed-window.js";
import { clusterCounter, type FlexibleLimiter, type Limit, type Limiter, type LimiterFactory, type LimitState, wrap } from "./limiter.js";

/** What a worker may still answer for one key without asking the primary. */
interface Lease {
  /** Leased points not used yet. */
  left: number;
  /** When the primary's window ends, ms on `now`'s clock (measured from before the batch was asked for). */
  endsAt: number;
  /** The primary's remaining points when it granted the lease (other workers may have taken some since). */
  primaryRemaining: number;
}

export interface LeasedLimiter extends Limiter {
  /** Keys with a lease kept in memory (tests: expired ones are swept). */
  readonly leasedKeys: number;
}

export interface LeaseOptions {
  /** Points asked for at once. */
  batch: number;
  /** The clock; `Date.now`, as the library reads it. */
  now?: () => number;
  /** Keys kept before expired leases are swept out. */
  sweepAbove?: number;
}

/**
 * Points a worker leases at once: small beside the limit, so that the points other workers hold unused
 * (below `(workers - 1) × batch`) stay under an eighth of it; at least one.
 */
export function batchSize(points: number, workers: number): number {
  return Math.max(1, Math.floor(points / (8 * Math.max(1, workers))));
}

/** A limit whose counts may be leased: plain fixed windows, with a batch larger than one point. */
export function leasable(limit: Limit, batch: number): boolean {
  return batch > 1 && !limit.block && limit.perSecond === undefined && limit.duration > 0;
}

export function leasedLimiter(name: string, limit: Limit, primary: FlexibleLimiter, options: LeaseOptions): LeasedLimiter {
  const { batch } = options;
  const now = options.now ?? Date.now;
  const sweepAbove = options.sweepAbove ?? SWEEP_ABOVE;
  const sweepEvery = sweepInterval(limit.duration);
  const leases = new Map<string, Lease>();
  /** One batch in flight per key: concurrent requests wait for it instead of each asking for one. */
  const asking = new Map<string, Promise<void>>();
  let nextSweep = 0;

  const sweep = (at: number) => {
    if (leases.size <= sweepAbove || at < nextSweep) return;
    nextSweep = at + sweepEvery;
    for (const [key, lease] of leases) if (lease.endsAt <= at && !asking.has(key)) leases.delete(key);
  };

  /** The answer of `consumeLeased`, rewritten by each call (no object per request); `consume` returns copies. */
  const answer: LimitState = { policy: name, allowed: true, limit: limit.points, remaining: limit.points, resetMs: 0 };
  const state = (lease: Lease, allowed: boolean, at: number): LimitState => {
    answer.allowed = allowed;
    answer.remaining = Math.min(limit.points, lease.primaryRemaining + lease.left);
    answer.resetMs = Math.max(0, lease.endsAt - at);
    return answer;
  };

  /** The answer from a live lease, or undefined when the primary must be asked. */
  const fromLease = (key: string): LimitState | undefined => {
    const lease = leases.get(key);
    const at = now();
    if (lease === undefined || lease.endsAt <= at) return undefined;
    if (lease.left > 0) {
      lease.left -= 1;
      return state(lease, true, at);
    }
    // Used up: the primary has nothing left in this window, or other workers may have left some.
    return lease.primaryRemaining === 0 ? state(lease, false, at) : undefined;
  };

  const takeBatch = async (key: string): Promise<void> => {
    const askedAt = now();
    let res: RateLimiterRes;
    let granted = batch;
    try {
      res = await primary.consume(key, batch);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      res = rejection;
      // The points that were still free before this batch was counted.
      granted = Math.min(batch, Math.max(0, limit.points - (res.consumedPoints - batch)));
    }
    let lease = leases.get(key);
    if (lease === undefined) {
      sweep(askedAt);
      lease = { left: 0, endsAt: 0, primaryRemaining: 0 };
      leases.set(key, lease);
    }
    lease.left = granted;
    lease.endsAt = askedAt + Math.max(0, res.msBeforeNext);
    lease.primaryRemaining = Math.max(0, res.remainingPoints);
  };

  const ask = (key: string): Promise<void> => {
    let pending = asking.get(key);
    if (pending === undefined) {
      pending = takeBatch(key).finally(() => asking.delete(key));
      asking.set(key, pending);
    }
    return pending;
  };

  return {
    name,
    get leasedKeys() {
      return leases.size;
    },
    consumeLeased: fromLease,
    async consume(key) {
      for (;;) {
        const leased = fromLease(key);
        if (leased !== undefined) return { ...leased };
        await ask(key);
        const granted = fromLease(key);
        if (granted !== undefined) return { ...granted };
        // Others waiting on the same batch used it up, or the window ended meanwhile: ask again.
      }
    },
    async reset(key) {
      leases.delete(key);
      await primary.delete(key);
    },
    async refund(key) {
      // The point was counted by the primary as part of this worker's lease: it goes back to the lease.
      const lease = leases.get(key);
      if (lease !== undefined && lease.endsAt > now()) lease.left += 1;
    },
  };
}

/** The cluster backend of a worker among `workers`: leased counters where the limit allows, else one round trip per request. */
export function leasedClusterLimiters(workers: number): LimiterFactory {
  return (name, limit) => {
    const counter = clusterCounter(name, limit);
    const batch = batchSize(limit.points, workers);
    return leasable(limit, batch) ? leasedLimiter(name, limit, counter, { batch }) : wrap(name, limit, counter);
  };
}
