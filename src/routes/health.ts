/**
 * `GET /health` (liveness): answered by the gateway itself once it listens.
 * `GET /ready` (readiness): the store answers, and the homeserver answered
 * `/_matrix/client/versions` within the last `READY_CACHE_MS` (checked on demand, not polled).
 */
import { sendJson } from "../http/respond.js";
import type { Store } from "../store/store.js";
import type { Handler } from "./context.js";

export const health: Handler = (_req, res) => sendJson(res, 200, { status: "ok" });

/** A successful upstream check is trusted this long. */
export const READY_CACHE_MS = 10_000;
const UPSTREAM_CHECK_TIMEOUT_MS = 2_000;

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
  return async (_req, res) => {
    const [storeOk, upstreamOk] = await Promise.all([
      store.countSessions().then(
        () => true,
        () => false,
      ),
      upstreamAnswers(),
    ]);
    const ready = storeOk && upstreamOk;
    sendJson(res, ready ? 200 : 503, {
      status: ready ? "ready" : "not ready",
      store: storeOk ? "ok" : "failing",
      upstream: upstreamOk ? "ok" : "failing",
    });
  };
}
