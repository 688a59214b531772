/**
 * `GET /health` (liveness): answered by the gateway itself once it listens.
 * `GET /ready` (readiness): the store answers a read and takes a write, and the homeserver answered
 * `/_matrix/client/versions` within the last `READY_CACHE_MS` (checked on demand, not polled).
 * A store that reads but cannot write (disk full, read-only, a SQLite file deleted under the gateway)
 * would answer every login and refresh with 503: such an instance is not ready.
 */
import { sendJson } from "../http/respond.js";
import type { Store } from "../store/store.js";
import type { Handler } from "./context.js";

export const health: Handler = (_req, res) => sendJson(res, 200, { status: "ok" });

/** A successful upstream check is trusted this long. */
export const READY_CACHE_MS = 10_000;
/** The store's write probe runs at most this often; callers in between share its result. */
export const WRITE_PROBE_CACHE_MS = 1_000;
const UPSTREAM_CHECK_TIMEOUT_MS = 2_000;

/** The `reason` of a 503, most fundamental first. Fixed words: the detail goes to the error log, not a public port. */
const REASONS = {
  storeRead: "the session store cannot be read",
  storeWrite: "the session store cannot be written",
  upstream: "the homeserver did not answer /_matrix/client/versions",
};

export function createReadiness(store: Store, upstreamUrl: string, now: () => number = Date.now): Handler {
  let upstreamOkAt = Number.NEGATIVE_INFINITY;
  const upstreamAnswers = async (): Promise<boolean> => {
    if (now() - upstreamOkAt < READY_CACHE_MS) return true;
    try {
      const response = await fetch(new URL("/_matrix/client/versions", upstreamUrl), {
        signal: AbortSignal.timeout(UPSTREAM_CHECK_TIMEOUT_MS),
      });
      await response.arrayBuffer();
      if (response.ok) upstreamOkAt = now();
      return response.ok;
    } catch {
      return false;
    }
  };
  // Cached, failure included: a probe per /ready request would let a tight poller write as fast as it asks.
  let probe: { at: number; writable: Promise<boolean> } | undefined;
  const storeWritable = (): Promise<boolean> => {
    if (probe === undefined || now() - probe.at >= WRITE_PROBE_CACHE_MS) {
      probe = {
        at: now(),
        writable: store.probeWrite().then(
          () => true,
          () => false,
        ),
      };
    }
    return probe.writable;
  };
  const storeReadable = () =>
    store.countSessions().then(
      () => true,
      () => false,
    );

  return async (_req, res) => {
    const [readable, writable, upstreamOk] = await Promise.all([storeReadable(), storeWritable(), upstreamAnswers()]);
    const storeOk = readable && writable;
    const ready = storeOk && upstreamOk;
    const reason = !readable ? REASONS.storeRead : !writable ? REASONS.storeWrite : !upstreamOk ? REASONS.upstream : undefined;
    sendJson(res, ready ? 200 : 503, {
      status: ready ? "ready" : "not ready",
      store: storeOk ? "ok" : "failing",
      upstream: upstreamOk ? "ok" : "failing",
      ...(reason === undefined ? {} : { reason }),
    });
  };
}
