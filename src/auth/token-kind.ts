/**
 * Telling a gateway access token from anything else by its shape alone: a gateway token is a compact JWS
 * (three base64url parts, RFC 7515 §7.1); a homeserver's (Synapse's `syt_…`, an opaque string) has no dots.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function looksLikeJwt(token: string): boolean {
  return COMPACT_JWS.test(token);
}
