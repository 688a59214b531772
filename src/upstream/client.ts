/**
 * The gateway's own calls to the homeserver (login, logout, registration), as opposed to proxied client
 * requests. Failures become the contract's answers: unreachable → 502, too slow → 504, both `M_UNKNOWN`.
 *
 * undici's `request` on a keep-alive pool of its own: Node's global `fetch` (the same library underneath)
 * wraps every request and response body in WHATWG streams and a `Request`, about 230 µs of CPU per login
 * in the benchmark's profile.
 */
import { Agent, errors, request } from "undici";
import { upstreamTimeout, upstreamUnreachable } from "../http/errors.js";

export interface UpstreamReply {
  status: number;
  body: Record<string, unknown>;
}

export interface UpstreamClient {
  /**
   * `clientAddress`: the client the call is made for (`RequestInfo.address`, trusted_proxies applied), sent as
   * `X-Forwarded-For` as on proxied requests, so that the homeserver's own per-address limits (`rc_login.address`,
   * `rc_registration`; Synapse reads it with `x_forwarded: true`) count each client, not the gateway.
   */
  post(path: string, body: unknown, accessToken?: string, clientAddress?: string): Promise<UpstreamReply>;
  /** The same for a GET (login flows, `account/whoami`). */
  get(path: string, accessToken?: string, clientAddress?: string): Promise<UpstreamReply>;
  /** Closes the pooled connections (the gateway's shutdown or reload). */
  close(): Promise<void>;
}

export function createUpstreamClient(baseUrl: string, timeoutMs: number): UpstreamClient {
  const base = baseUrl.replace(/\/$/, "");
  // undici's own timeouts are per phase (and bodyTimeout per chunk): a homeserver answering its headers
  // just in time and then trickling its body would hold a login for twice the allowance, or forever.
  // One deadline per call covers connecting, the headers and the whole body; undici's are its backstop.
  const dispatcher = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  const call = async (
    method: "GET" | "POST",
    path: string,
    body: unknown,
    accessToken: string | undefined,
    clientAddress: string | undefined,
  ): Promise<UpstreamReply> => {
    const headers: Record<string, string> = {};
    if (method === "POST") headers["content-type"] = "application/json";
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    if (clientAddress) headers["x-forwarded-for"] = clientAddress;
    let status: number;
    let text: string;
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      const payload = method === "POST" ? JSON.stringify(body) : undefined;
      const response = await request(base + path, { method, headers, body: payload, dispatcher, signal: deadline });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw deadline.aborted || isTimeout(error) ? upstreamTimeout() : upstreamUnreachable();
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = {};
    }
    const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
    return { status, body: isObject ? (parsed as Record<string, unknown>) : {} };
  };
  return {
    post: (path, body, accessToken, clientAddress) => call("POST", path, body, accessToken, clientAddress),
    get: (path, accessToken, clientAddress) => call("GET", path, undefined, accessToken, clientAddress),
    close: () => dispatcher.close(),
  };
}

function isTimeout(error: unknown): boolean {
  return (
    error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError || error instanceof errors.ConnectTimeoutError
  );
}
