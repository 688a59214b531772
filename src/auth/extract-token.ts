/**
 * Where a client's access token is: `Authorization: Bearer` (modern clients) or the `access_token`
 * query parameter (the seed API). The token is taken out of the URL so it never reaches the upstream.
 */
import type { IncomingHttpHeaders } from "node:http";
import { missingToken, mixedTokens } from "../http/errors.js";
import { joinUrl, takeParams } from "../http/query.js";

export interface ExtractedToken {
  token: string | undefined;
  /** The request URL with every `access_token` query parameter removed; other parameters unchanged. */
  forwardUrl: string;
}

const TOKEN_PARAM = new Set(["access_token"]);

export function extractToken(url: string, headers: IncomingHttpHeaders, rawHeaders: string[]): ExtractedToken {
  const headerToken = bearerToken(headers, rawHeaders);
  if (!url.includes("?")) return { token: headerToken, forwardUrl: url };
  const { path, taken, rest } = takeParams(url, TOKEN_PARAM);
  if (taken.length === 0) return { token: headerToken, forwardUrl: url };
  if (taken.length > 1) throw missingToken("Multiple access_token query parameters.");
  if (headerToken !== undefined) throw mixedTokens();
  return { token: taken[0]?.value || undefined, forwardUrl: joinUrl(path, rest) };
}

function bearerToken(headers: IncomingHttpHeaders, rawHeaders: string[]): string | undefined {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  // Node keeps only the first of several Authorization headers; count them ourselves.
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 13 && name.toLowerCase() === "authorization") count++;
  }
  if (count > 1) throw missingToken("Multiple Authorization headers.");
  const token = bearerValue(value);
  if (token === undefined) throw missingToken("Invalid Authorization header.");
  return token;
}

/**
 * `Bearer <token>` (scheme in any case, RFC 9110 §11.1), spaces between and after; the token has no white
 * space (what `\s` matches). Read without a match array: the scheme by character codes, the token's extent by a
 * shared sticky regex (`lastIndex` says where it ends) — about twice as fast as a loop over the token's characters.
 */
function bearerValue(value: string): string | undefined {
  if (value.length < 8 || value.charCodeAt(6) !== 32 || !startsWithBearer(value)) return undefined;
  let start = 7;
  while (value.charCodeAt(start) === 32) start++;
  TOKEN_RUN.lastIndex = start;
  if (!TOKEN_RUN.test(value)) return undefined;
  const end = TOKEN_RUN.lastIndex;
  for (let i = end; i < value.length; i++) if (value.charCodeAt(i) !== 32) return undefined;
  return end === value.length && start === 7 ? value.slice(7) : value.slice(start, end);
}

/** The token: a run of anything but white space, from `lastIndex` (sticky: it must start there). Shared, never allocated per request. */
const TOKEN_RUN = /\S+/y;

/** `bearer` in its lower-case character codes; an ASCII letter's code with bit 0x20 set is its lower case. */
const BEARER = [98, 101, 97, 114, 101, 114];

/** `Bearer`, `bearer`, `BEARER`, …: compared by code, without the two strings `slice().toLowerCase()` made. */
function startsWithBearer(value: string): boolean {
  for (let i = 0; i < BEARER.length; i++) if ((value.charCodeAt(i) | 0x20) !== BEARER[i]) return false;
  return true;
}
