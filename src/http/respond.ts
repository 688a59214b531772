/** The one place where the gateway writes its own responses (proxied responses are the upstream's). */
import type { ServerResponse } from "node:http";
import { MatrixError } from "./errors.js";

/** What a homeserver sends so that web clients on other origins may call it (Matrix spec, "Web Browser Clients"). */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization, Date",
};

/** Synapse's on every JSON answer of the client API: no cache keeps a login, token or error. */
export const NO_CACHE = "no-cache, no-store, must-revalidate";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...CORS_HEADERS,
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(payload)),
    "Cache-Control": NO_CACHE,
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, error: MatrixError): void {
  sendJson(res, error.status, error.body(), error.headers);
}

/**
 * Headers for whatever answer comes next on a route that may answer itself or relay (registration:
 * `RateLimit-*`). The forwarder takes its own in `ForwardOptions.responseHeaders`, written in one object.
 */
export function setHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const name in headers) res.setHeader(name, headers[name] as string);
}

/**
 * Answers a CORS preflight: no token needed (browsers never send one with OPTIONS). As Synapse: `204`, no
 * body, `Content-Length: 0`, the CORS headers and nothing else, on any path (its `OptionsResource`).
 */
export function sendPreflight(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(204, { ...CORS_HEADERS, "Content-Length": "0" });
  res.end();
}

export { MatrixError };
