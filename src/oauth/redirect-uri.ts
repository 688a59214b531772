/**
 * Where the authorization response goes (RFC 6749 §3.1.2): only to a redirect URI the client registered (which
 * ones it may register: `redirect-uri-rules.ts`), with the response in the query (default) or the fragment
 * (`response_mode=fragment`, OAuth 2.0 Multiple Response Type Encoding Practices §2.1).
 */

import { LOOPBACK_HOSTS } from "./redirect-uri-rules.js";

export type ResponseMode = "query" | "fragment";

/**
 * The registered URI `requested` matches: the same string, or — for a native client that registered a
 * loopback URI without a port — the same URI on any port (RFC 8252 §7.3: the port is chosen when the app runs).
 */
export function matchesRegistered(requested: string, registered: readonly unknown[], native: boolean): boolean {
  if (registered.includes(requested)) return true;
  if (!native) return false;
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" || !LOOPBACK_HOSTS.has(url.hostname) || url.port === "") return false;
  url.port = "";
  return registered.some((uri) => typeof uri === "string" && hrefOf(uri) === url.href && new URL(uri).port === "");
}

function hrefOf(uri: string): string | undefined {
  try {
    return new URL(uri).href;
  } catch {
    return undefined;
  }
}

/** `redirectUri` with the response parameters added, in the query or the fragment. */
export function responseUrl(redirectUri: string, mode: ResponseMode, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  const target = mode === "query" ? url.searchParams : new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) target.set(name, value);
  if (mode === "fragment") url.hash = target.toString();
  return url.href;
}
