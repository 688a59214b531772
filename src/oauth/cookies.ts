/**
 * The browser pages' cookies (RFC 6265): read from the `Cookie` header, written with the attributes that keep
 * them out of scripts (HttpOnly) and other sites' requests (SameSite=Strict), scoped to the gateway's path.
 */
import type { IncomingMessage } from "node:http";

/** The value of cookie `name`, or `undefined`. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieScope {
  path: string;
  /** Only over https: set when public_baseurl is https. */
  secure: boolean;
}

/** A `Set-Cookie` value; `maxAgeMs` 0 deletes the cookie. Values are base64url or JWE compact: no quoting needed. */
export function cookieHeader(name: string, value: string, maxAgeMs: number, scope: CookieScope): string {
  const parts = [`${name}=${value}`, `Path=${scope.path}`, `Max-Age=${Math.floor(maxAgeMs / 1000)}`, "HttpOnly", "SameSite=Strict"];
  if (scope.secure) parts.push("Secure");
  return parts.join("; ");
}
