/**
 * PKCE (RFC 7636), S256 only: the verifier is 43–128 characters of the unreserved set (§4.1), and
 * `BASE64URL(SHA256(verifier))` must equal the challenge sent to the authorization endpoint (§4.6).
 */
import crypto from "node:crypto";

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export function verifierMatches(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false;
  const computed = crypto.createHash("sha256").update(verifier, "ascii").digest();
  const expected = Buffer.from(challenge, "base64url");
  // The same length first: timingSafeEqual throws otherwise (and a length tells nothing secret).
  return expected.length === computed.length && crypto.timingSafeEqual(computed, expected);
}
