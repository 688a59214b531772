/**
 * Upstream deadlines with one coarse timer for all requests in flight, instead of a timer per request
 * (`proxyReq.setTimeout` armed, re-armed and cleared on every request cost more than the rest of the
 * forwarder's bookkeeping together). Every `SWEEP_MS` each exchange is checked:
 * - still waiting for a socket of a full pool past its socket deadline → `onSocketWaitExpired`;
 * - silent — not one byte read from or written to its upstream socket — for its whole `timeoutMs` → `onSilent`.
 * Silence, not age: a long upload or a long answer that keeps moving is never cut, exactly as a socket idle
 * timeout behaves; a long-poll's own `timeout` is part of its `timeoutMs`.
 *
 * The exchanges in flight are an array, each knowing its slot, not a `Set`: a `Set` that every request joins and
 * leaves rebuilds its hash table every few dozen requests, and each table it leaves behind in the old generation
 * still points at the exchanges it held. The young-generation collector cannot tell that table is dead, so those
 * exchanges — with their requests, responses and buffers — survived every scavenge and were promoted: measured
 * under load, 3–8 MB survived each scavenge instead of ~60 KB, and a scavenge paused 15–25 ms instead of 0.5 ms.
 */
import type { ClientRequest } from "node:http";

/** How often exchanges are checked: deadlines fire up to this late. */
export const SWEEP_MS = 200;

export interface TrackedExchange {
  /** The upstream request, once the agent gave it a socket. */
  proxyReq: ClientRequest | undefined;
  /** Silence allowed before the exchange is cut (ms). */
  timeoutMs: number;
  /** `performance.now()` by which a request queued for a socket must have one; 0 when it is not queued. */
  socketDeadline: number;
  /** Bytes read and written on the socket when last seen, and when they last changed. */
  lastBytes: number;
  lastProgressAt: number;
  /** Where the exchange sits in the list of those in flight; -1 when it is not tracked. */
  slot: number;
}

export interface Deadlines<T extends TrackedExchange> {
  /** Starts watching `exchange`; its clock starts at `now` (`performance.now()`, which the caller has already read). */
  track(exchange: T, now: number): void;
  /** The exchange is over (its response closed). */
  release(exchange: T): void;
  close(): void;
}

export function createDeadlines<T extends TrackedExchange>(handlers: {
  onSocketWaitExpired(exchange: T): void;
  onSilent(exchange: T): void;
}): Deadlines<T> {
  const inFlight: T[] = [];
  let timer: NodeJS.Timeout | undefined;

  /** Takes `exchange` out of the list: the last one moves into its slot, and no slot keeps a reference. */
  const untrack = (exchange: T) => {
    const { slot } = exchange;
    if (slot < 0 || inFlight[slot] !== exchange) return;
    const last = inFlight.pop() as T;
    if (last !== exchange) {
      inFlight[slot] = last;
      last.slot = slot;
    }
    exchange.slot = -1;
  };

  const sweep = () => {
    const now = performance.now();
    // From the end: taking out the exchange at `i` moves one already checked into its slot. A handler that
    // ends other exchanges moves one already checked, or one still ahead, into theirs: none is skipped.
    for (let i = inFlight.length - 1; i >= 0; i--) {
      const exchange = inFlight[i];
      if (exchange === undefined) continue;
      const { proxyReq } = exchange;
      if (!proxyReq) {
        if (exchange.socketDeadline !== 0 && now >= exchange.socketDeadline) {
          untrack(exchange);
          handlers.onSocketWaitExpired(exchange);
        } else if (exchange.socketDeadline === 0 && now - exchange.lastProgressAt >= exchange.timeoutMs) {
          untrack(exchange);
          handlers.onSilent(exchange);
        }
        continue;
      }
      const socket = proxyReq.socket;
      const bytes = socket ? socket.bytesRead + socket.bytesWritten : 0;
      if (bytes !== exchange.lastBytes) {
        exchange.lastBytes = bytes;
        exchange.lastProgressAt = now;
      } else if (now - exchange.lastProgressAt >= exchange.timeoutMs) {
        untrack(exchange);
        handlers.onSilent(exchange);
      }
    }
    if (inFlight.length === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    track(exchange, now) {
      exchange.lastProgressAt = now;
      exchange.lastBytes = -1;
      // Tracked again (as a `Set` would take it): its clock restarts, and it stays in the list once.
      if (exchange.slot >= 0 && inFlight[exchange.slot] === exchange) return;
      exchange.slot = inFlight.length;
      inFlight.push(exchange);
      if (timer === undefined) {
        timer = setInterval(sweep, SWEEP_MS);
        timer.unref();
      }
    },
    release: untrack,
    close() {
      clearInterval(timer);
      timer = undefined;
      for (const exchange of inFlight) exchange.slot = -1;
      inFlight.length = 0;
    },
  };
}
