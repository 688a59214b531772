/**
 * The OAuth JSON endpoints answer every error the OAuth way (RFC 6749 §5.2), never with a Matrix errcode:
 * what the shared code throws as a `MatrixError` (a body too large, a rate limit, the in-flight cap) is
 * translated here, in one wrapper around each handler. The router's `fail` then renders it.
 */
import { MatrixError } from "../http/errors.js";
import type { Handler } from "../routes/context.js";
import { OAuthError } from "./errors.js";

/** Headers a rate-limit refusal keeps: when to come back, and the limit's state. */
const LIMIT_HEADERS = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

/**
 * `handler`, with each error an `OAuthError` carrying `headers` too (the token endpoint's `no-store`).
 * A MatrixError becomes `invalidCode` (the endpoint's word for a bad request), or for a 429
 * `temporarily_unavailable` (RFC 6749 §4.1.2.1: the server cannot serve the request for now) with Retry-After.
 */
export function oauthJsonHandler(handler: Handler, invalidCode: string, headers: Record<string, string> = {}): Handler {
  return async (req, res, info) => {
    try {
      await handler(req, res, info);
    } catch (error) {
      throw asOAuthError(error, invalidCode, headers);
    }
  };
}

/** What the router raises before an OAuth JSON endpoint's handler (a wrong method, the in-flight cap), the OAuth way. */
export const asOAuthRequestError = (error: unknown): unknown => asOAuthError(error, "invalid_request", {});

function asOAuthError(error: unknown, invalidCode: string, headers: Record<string, string>): unknown {
  if (error instanceof OAuthError) {
    return new OAuthError(error.status, error.code, error.message, { ...headers, ...error.headers });
  }
  if (!(error instanceof MatrixError)) return error;
  if (error.status === 429) {
    const kept: Record<string, string> = { ...headers };
    for (const name of LIMIT_HEADERS) if (error.headers[name] !== undefined) kept[name] = error.headers[name];
    return new OAuthError(429, "temporarily_unavailable", "Too many requests: try again later", kept);
  }
  if (error.status >= 500) return error;
  // A method the endpoint does not serve keeps its 405 and the `Allow` header RFC 9110 §15.5.6 requires.
  if (error.status === 405) return new OAuthError(405, invalidCode, "Method not allowed", { ...headers, Allow: error.headers.Allow ?? "" });
  return new OAuthError(error.status === 413 ? 413 : 400, invalidCode, error.message, headers);
}
