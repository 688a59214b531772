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

const BEARER = /^Bearer +([^\s]+) *$/i;

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
  const match = BEARER.exec(value);
  if (!match) throw missingToken("Invalid Authorization header.");
  return match[1];
}
