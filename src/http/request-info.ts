/**
 * What the gateway learns about one request on its way through, for the handlers, the request log
 * line and the metrics. Created by the router; one small object per request.
 */
import type { IncomingMessage } from "node:http";
import type { RouteLabel } from "../observability/metrics.js";
import { newRequestId } from "./request-id.js";

export interface RequestInfo {
  /** `performance.now()` when the request arrived. */
  startedAt: number;
  /** Path without the query string, checked to be canonical (empty until then). */
  path: string;
  /** The client address (`trusted_proxies` applied). */
  address: string;
  /** `X-Request-Id`: the client's (or its proxy's) when well-formed, else a new one. Sent upstream and back. */
  requestId: string;
  route: RouteLabel;
  /** The authenticated user, once known. */
  userId: string | undefined;
  /** When the request was handed to the upstream, and how long its response headers took (ms). */
  upstreamStart: number;
  upstreamMs: number | undefined;
  /** A refresh's outcome when the status alone does not tell it: `retry_in_grace`, `sibling_superseded` or `theft`. */
  outcome: string | undefined;
  /**
   * The homeserver's answer is inspected for a credential before it is relayed, whatever the method (a
   * sub-path of an auth endpoint; POST answers always are).
   */
  inspectAnswer: boolean;
  /** The key counted against an in-flight cap (address or user), to be given back when the response closes. */
  inFlightKey: string | undefined;
}

const WELL_FORMED_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function newRequestInfo(req: IncomingMessage): RequestInfo {
  const given = req.headers["x-request-id"];
  const requestId = typeof given === "string" && WELL_FORMED_ID.test(given) ? given : newRequestId();
  return {
    startedAt: performance.now(),
    path: "",
    address: "",
    requestId,
    route: "rejected",
    userId: undefined,
    upstreamStart: 0,
    upstreamMs: undefined,
    outcome: undefined,
    inFlightKey: undefined,
    inspectAnswer: false,
  };
}
