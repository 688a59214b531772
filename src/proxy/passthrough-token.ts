/**
 * A passthrough prefix (`/_matrix/federation/`, `/_matrix/key/`, `/_synapse/client/`) is forwarded without the
 * gateway's authentication, so it must never carry a gateway token either: a JWT sent there (a client that
 * attaches its token to every request, a browser page) would land in the homeserver's logs. A gateway token is
 * a compact JWS; federation's own `Authorization: X-Matrix …` signature is not, and passes unchanged.
 */
import { looksLikeJwt } from "../auth/token-kind.js";
import { joinUrl, takeParams } from "../http/query.js";

const BEARER = /^Bearer +(\S+) *$/i;
const TOKEN_PARAM = new Set(["access_token"]);

/** Whether an `Authorization` value is a bearer JWT (the gateway's kind of token). */
export function isBearerJwt(authorization: string): boolean {
  const match = BEARER.exec(authorization);
  return match !== null && looksLikeJwt(match[1] as string);
}

/** `url` without any `access_token` query parameter holding a JWT (the homeserver's reading: `&` and `;`). */
export function withoutJwtParams(url: string): string {
  if (!url.includes("?")) return url;
  const { path, taken, rest } = takeParams(url, TOKEN_PARAM);
  if (!taken.some((param) => looksLikeJwt(param.value))) return url;
  // The other access_token parameters are kept as they came (their raw text is no longer at hand: re-encode).
  const kept = taken.filter((param) => !looksLikeJwt(param.value)).map((param) => `access_token=${encodeURIComponent(param.value)}`);
  return joinUrl(path, [...rest, ...kept]);
}
