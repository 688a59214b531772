/**
 * Short-lived JWT access tokens (RFC 7519, RFC 9068 `typ: at+jwt`), signed with the configured key set
 * (HS256, RS256, ES256; each key with a kid). jsonwebtoken leaves several checks to the caller (RFC 8725):
 * the key is looked up by kid in the configured set only (never from `jwk`/`jku`/`x5u` headers), the
 * algorithm is pinned to that key's, `exp` is required, `typ` is checked, `iat` may not be in the future,
 * a `crit` header is refused (RFC 7515 §4.1.11: no extension is understood here), and oversized or
 * malformed tokens are refused before any crypto.
 *
 * The header is parsed once, by jsonwebtoken: the key is chosen by a lookup function it calls with the decoded
 * header before it checks the signature (synchronously: it is given a callback, and the lookup answers at
 * once). A malformed token (not three base64url segments, a header that is not JSON, no signature) is refused
 * by jsonwebtoken before the lookup, a header that is not an object by the lookup; a token longer than 8 KiB
 * is refused here before jsonwebtoken reads it.
 *
 * Expiry is exact: a token is refused from the millisecond its `expires_in_ms` ran out. `exp` carries
 * milliseconds as a fraction of a second (RFC 7519 §2: a NumericDate may be non-integer), and the clock-skew
 * tolerance applies to `iat` only — a client waiting for the expiry it was told about must see it happen,
 * while another gateway instance whose clock runs a little ahead must not see a fresh token as issued in
 * the future.
 */
import crypto, { type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Clock, RandomBytes } from "../clock.js";
import type { JwtKey } from "../config/jwt-keys.js";
import { expiredToken, unknownToken } from "../http/errors.js";

export interface AccessClaims {
  /** Matrix user ID. */
  sub: string;
  /** Gateway session the token belongs to. */
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

export interface AccessTokenOptions {
  keys: JwtKey[];
  /** The kid of the key that signs new tokens. */
  signingKid: string;
  issuer: string;
  audience: string;
  clockSkewMs: number;
  /** Verified tokens remembered (`jwt.verified_cache_size`, oldest forgotten first); 0 verifies every time. */
  verifiedCacheSize: number;
  clock: Clock;
  random: RandomBytes;
}

export interface AccessTokens {
  /** A token for the session, valid until `expiresAt` (ms). */
  issue(userId: string, sessionId: string, expiresAt: number): string;
  /** Claims of a valid token; throws a MatrixError (401) otherwise. `allowExpired` is for logout. */
  verify(token: string, options?: { allowExpired?: boolean }): AccessClaims;
}

/** Larger tokens are refused unread (security.md: > 8 KiB). */
export const MAX_TOKEN_LENGTH = 8192;
export const ACCESS_TOKEN_TYPE = "at+jwt";

/** One HS256 key: what `jwt.secret` means. */
export function hmacKey(kid: string, secret: Buffer): JwtKey {
  const key: KeyObject = crypto.createSecretKey(secret);
  return { kid, algorithm: "HS256", signingKey: key, verificationKey: key };
}

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const { issuer, audience, clock, random } = options;
  const byKid = new Map(options.keys.map((k) => [k.kid, k]));
  const signer = byKid.get(options.signingKid);
  if (!signer?.signingKey) throw new Error(`no signing key with kid "${options.signingKid}"`);
  const signingKey = signer.signingKey;
  // With a single key, a token without kid can only mean that key.
  const onlyKey = options.keys.length === 1 ? options.keys[0] : undefined;
  /** Seconds another instance's clock may run ahead: applied to `iat` and `nbf`, never to `exp`. */
  const clockTolerance = options.clockSkewMs / 1000;

  // Tokens whose signature and claims were checked: a client sends the same token on every request
  // until it refreshes, and the signature of the exact same string cannot change. Expiry is still
  // checked on every use; revocation is checked by the session lookup after this.
  const verified = new Map<string, AccessClaims>();
  const { verifiedCacheSize } = options;
  const remember = (token: string, claims: AccessClaims) => {
    if (verifiedCacheSize === 0) return;
    if (verified.size >= verifiedCacheSize) verified.delete(verified.keys().next().value as string);
    verified.set(token, claims);
  };

  // The key lookup and the callback are shared by every verification: jsonwebtoken runs both synchronously
  // inside `jwt.verify` (nothing here waits), so the result slots below are read right after the call.
  // RFC 8725 §2.1/§3.1: the key comes from the configured set only, by kid, and the algorithm is that key's.
  const keyFor = (header: unknown): JwtKey | undefined => {
    if (typeof header !== "object" || header === null) return undefined;
    const { kid, alg } = header as { kid?: unknown; alg?: unknown };
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood, and none is.
    if ("crit" in header) return undefined;
    const key = kid === undefined ? onlyKey : typeof kid === "string" ? byKid.get(kid) : undefined;
    return key && alg === key.algorithm ? key : undefined;
  };
  const lookUpKey: jwt.GetPublicKeyOrSecret = (header, answer) => {
    const key = keyFor(header);
    if (key) answer(null, key.verificationKey);
    else answer(HEADER_REFUSED);
  };
  let outcome: jwt.Jwt | undefined;
  let failure: jwt.VerifyErrors | null = null;
  const settle: jwt.VerifyCallback<jwt.Jwt> = (error, decoded) => {
    failure = error;
    outcome = decoded;
  };
  // One options object per verification mode, reused: only the clock reading changes (jsonwebtoken copies it).
  // `algorithms` lists the configured ones (the lookup above pins each token to its key's); no tolerance on
  // `exp` (exact expiry); `iat` and `nbf` are checked with it in checkClaims.
  const algorithms = [...new Set(options.keys.map((k) => k.algorithm))];
  const strict = { algorithms, issuer, audience, clockTolerance: 0, ignoreNotBefore: true, clockTimestamp: 0, complete: true as const };
  const lenient = { ...strict, ignoreExpiration: true };

  return {
    issue(userId, sessionId, expiresAt) {
      const iat = Math.floor(clock.now() / 1000);
      const payload = { sub: userId, sid: sessionId, jti: random(12).toString("base64url"), iat, exp: expiresAt / 1000 };
      return jwt.sign(payload, signingKey, {
        algorithm: signer.algorithm,
        issuer,
        audience,
        header: { alg: signer.algorithm, typ: ACCESS_TOKEN_TYPE, kid: signer.kid },
      });
    },

    verify(token, verifyAs) {
      const allowExpired = verifyAs?.allowExpired === true;
      // Seconds with milliseconds as the fraction, the unit of `exp`: the same division as at issue.
      const now = clock.now() / 1000;
      const known = verified.get(token);
      if (known) {
        // jsonwebtoken's own rule, without tolerance: expired once now >= exp.
        if (!allowExpired && now >= known.exp) throw expiredToken();
        return known;
      }
      if (token.length > MAX_TOKEN_LENGTH) throw unknownToken();
      const verifyOptions = allowExpired ? lenient : strict;
      verifyOptions.clockTimestamp = now;
      outcome = undefined;
      failure = null;
      jwt.verify(token, lookUpKey, verifyOptions, settle);
      const decoded = outcome as jwt.Jwt | undefined;
      const error = failure as jwt.VerifyErrors | null;
      outcome = undefined;
      failure = null;
      if (error || !decoded) throw error instanceof jwt.TokenExpiredError ? expiredToken() : unknownToken();
      const claims = checkClaims(decoded, now, clockTolerance);
      if (!claims) throw unknownToken();
      remember(token, claims);
      return claims;
    },
  };
}

/** What the key lookup answers for a header it refuses (jsonwebtoken wraps it; the caller answers 401). */
const HEADER_REFUSED = new Error("no configured key for this token header");

/** The claims of a verified token, or `undefined` when they are not what the gateway issues. */
function checkClaims(decoded: jwt.Jwt, now: number, tolerance: number): AccessClaims | undefined {
  if (decoded.header.typ !== ACCESS_TOKEN_TYPE) return undefined;
  const p = decoded.payload;
  if (typeof p !== "object" || p === null) return undefined;
  if (typeof p.exp !== "number" || typeof p.iat !== "number" || typeof p.sub !== "string" || typeof p.jti !== "string") return undefined;
  const sid = (p as Record<string, unknown>).sid;
  if (typeof sid !== "string") return undefined;
  if (p.iat > now + tolerance) return undefined;
  if (p.nbf !== undefined && (typeof p.nbf !== "number" || p.nbf > now + tolerance)) return undefined;
  return { sub: p.sub, sid, jti: p.jti, iat: p.iat, exp: p.exp };
}

/** The public keys as a JWKS document (RFC 7517), for services that verify gateway tokens. HS256 keys are never published. */
export function publicJwks(keys: JwtKey[]): { keys: Record<string, unknown>[] } {
  return {
    keys: keys
      .filter((k) => k.algorithm !== "HS256")
      .map((k) => ({ ...k.verificationKey.export({ format: "jwk" }), kid: k.kid, alg: k.algorithm, use: "sig" })),
  };
}
