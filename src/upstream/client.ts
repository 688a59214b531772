/**
 * The gateway's own calls to the homeserver (login, logout), as opposed to proxied client requests.
 * Failures become the contract's answers: unreachable → 502, too slow → 504, both `M_UNKNOWN`.
 */
import { upstreamTimeout, upstreamUnreachable } from "../http/errors.js";

export interface UpstreamReply {
  status: number;
  body: Record<string, unknown>;
}

export interface UpstreamClient {
  post(path: string, body: unknown, accessToken?: string): Promise<UpstreamReply>;
}

export function createUpstreamClient(baseUrl: string, timeoutMs: number): UpstreamClient {
  const base = baseUrl.replace(/\/$/, "");
  return {
    async post(path, body, accessToken) {
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
      let response: Response;
      try {
        response = await fetch(base + path, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "manual",
        });
      } catch (error) {
        throw (error as Error).name === "TimeoutError" ? upstreamTimeout() : upstreamUnreachable();
      }
      let parsed: unknown;
      try {
        parsed = await response.json();
      } catch (error) {
        if ((error as Error).name === "TimeoutError") throw upstreamTimeout();
        parsed = {};
      }
      const isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
      return { status: response.status, body: isObject ? (parsed as Record<string, unknown>) : {} };
    },
  };
}
