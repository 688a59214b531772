/**
 * One log line and the metrics of a finished request: method, scrubbed path, status, durations,
 * client address, user and request id. Never a token: the URL is scrubbed and no header is logged.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestInfo } from "../http/request-info.js";
import { type Logger, requestLineWriter, scrubUrl } from "./log.js";
import type { Metrics } from "./metrics.js";

/** ok, refused (wrong credentials or token), limited, invalid (a malformed request), error (ours or the homeserver's). */
function outcomeOf(status: number): string {
  if (status === 200) return "ok";
  if (status === 401 || status === 403) return "refused";
  if (status === 429) return "limited";
  if (status >= 400 && status < 500) return "invalid";
  return "error";
}

export function createRequestObserver(logger: Logger, metrics: Metrics, log: { requests: boolean; buffer: number }) {
  // It takes the logger's level now; a reload sets the new level first, then builds a new router.
  const writeLine = log.requests ? requestLineWriter(logger, log.buffer) : undefined;
  return (req: IncomingMessage, res: ServerResponse, info: RequestInfo): void => {
    const ms = performance.now() - info.startedAt;
    const status = res.headersSent ? res.statusCode : 0; // 0: the client went away before an answer
    const method = req.method ?? "";
    metrics.countRequest(info.route, method, status);
    metrics.requestDuration.observe(info.route, ms / 1000);
    if (info.upstreamMs !== undefined) metrics.upstreamDuration.observe(info.route, info.upstreamMs / 1000);
    if (method === "POST" && info.route === "login") metrics.logins.inc({ outcome: outcomeOf(status) });
    if (method === "POST" && info.route === "refresh") metrics.refreshes.inc({ outcome: info.outcome ?? outcomeOf(status) });
    if (!writeLine) return;
    writeLine({
      event: "request",
      method,
      path: scrubUrl(req.url ?? ""),
      status,
      ms: Math.round(ms * 10) / 10,
      upstream_ms: info.upstreamMs === undefined ? undefined : Math.round(info.upstreamMs * 10) / 10,
      route: info.route,
      client: info.address,
      user_id: info.userId,
      request_id: info.requestId,
    });
  };
}
