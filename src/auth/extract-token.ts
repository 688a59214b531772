/**
 * Where a client's access token is: `Authorization: Bearer` (modern clients) or the `access_token`
 * query parameter (the seed API). The token is taken out of the URL so it never reaches the upstream.
 */
import type { IncomingHttpHeaders } from "node:http";
import { missingToken, mixedTokens } from "../http/errors.js";

export interface ExtractedToken {
  token: string | undefined;
  /** The request URL with every `access_token` query parameter removed; other parameters unchanged. */
  forwardUrl: string;
}

const BEARER = /^Bearer +([^\s]+) *$/i;

export function extractToken(url: string, headers: IncomingHttpHeaders, rawHeaders: string[]): ExtractedToken {
  const headerToken = bearerToken(headers, rawHeaders);
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return { token: headerToken, forwardUrl: url };

  const params = url.slice(queryStart + 1).split("&");
  const kept: string[] = [];
  let queryToken: string | undefined;
  let found = 0;
  for (const param of params) {
    const eq = param.indexOf("=");
    const name = eq === -1 ? param : param.slice(0, eq);
    if (decodeName(name) === "access_token") {
      found++;
      queryToken = decodeValue(eq === -1 ? "" : param.slice(eq + 1));
    } else {
      kept.push(param);
    }
  }
  if (found === 0) return { token: headerToken, forwardUrl: url };
  if (found > 1) throw missingToken("Multiple access_token query parameters.");
  if (headerToken !== undefined) throw mixedTokens();
  const path = url.slice(0, queryStart);
  return { token: queryToken || undefined, forwardUrl: kept.length ? `${path}?${kept.join("&")}` : path };
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

function decodeName(name: string): string {
  if (!name.includes("%") && !name.includes("+")) return name;
  try {
    return decodeURIComponent(name.replace(/\+/g, " "));
  } catch {
    return name;
  }
}

function decodeValue(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "));
  } catch {
    return value;
  }
}
