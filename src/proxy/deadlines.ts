/**
 * Upstream deadlines with one coarse timer for all requests in flight, instead of a timer per request
 * (`proxyReq.setTimeout` armed, re-armed and cleared on every request cost more than the rest of the
 * forwarder's bookkeeping together). Every `SWEEP_MS` each exchange is checked:
 * - still waiting for a socket of a full pool past its socket deadline → `onSocketWaitExpired`;
 * - silent — not one byte read from or written to its upstream socket — for its whole `timeoutMs` → `onSilent`.
 * Silence, not age: a long upload or a long answer that keeps moving is never cut, exactly as a socket idle
 * timeout behaves; a long-poll's own `timeout` is part of its `timeoutMs`.
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
  const inFlight = new Set<T>();
  let timer: NodeJS.Timeout | undefined;

  const sweep = () => {
    const now = performance.now();
    for (const exchange of inFlight) {
      const { proxyReq } = exchange;
      if (!proxyReq) {
        if (exchange.socketDeadline !== 0 && now >= exchange.socketDeadline) {
          inFlight.delete(exchange);
          handlers.onSocketWaitExpired(exchange);
        } else if (exchange.socketDeadline === 0 && now - exchange.lastProgressAt >= exchange.timeoutMs) {
          inFlight.delete(exchange);
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
        inFlight.delete(exchange);
        handlers.onSilent(exchange);
      }
    }
    if (inFlight.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    track(exchange, now) {
      exchange.lastProgressAt = now;
      exchange.lastBytes = -1;
      inFlight.add(exchange);
      if (timer === undefined) {
        timer = setInterval(sweep, SWEEP_MS);
        timer.unref();
      }
    },
    release(exchange) {
      inFlight.delete(exchange);
    },
    close() {
      clearInterval(timer);
      timer = undefined;
      inFlight.clear();
    },
  };
}
