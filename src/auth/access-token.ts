/**
 * Short-lived JWT access tokens (RFC 7519, RFC 9068 `typ: at+jwt`), signed with the configured key set
 * (HS256, RS256, ES256; each key with a kid). jsonwebtoken leaves several checks to the caller (RFC 8725):
 * the key is looked up by kid in the configured set only (never from `jwk`/`jku`/`x5u` headers), the
 * algorithm is pinned to that key's, `exp` is required, `typ` is checked, `iat` may not be in the future,
 * a `crit` header is refused (RFC 7515 §4.1.11: no extension is understood here), and oversized or
 * malformed tokens are refused before any crypto.
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
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

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

  const keyFor = (token: string): JwtKey => {
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(token.slice(0, token.indexOf(".")), "base64url").toString("utf8"));
    } catch {
      throw unknownToken();
    }
    if (typeof header !== "object" || header === null) throw unknownToken();
    // RFC 7515 §4.1.11: extensions listed in `crit` must be understood, and none is.
    if ("crit" in header) throw unknownToken();
    const kid = (header as { kid?: unknown }).kid;
    const key = kid === undefined ? onlyKey : typeof kid === "string" ? byKid.get(kid) : undefined;
    if (!key) throw unknownToken();
    return key;
  };

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

    verify(token, { allowExpired = false } = {}) {
      // Seconds with milliseconds as the fraction, the unit of `exp`: the same division as at issue.
      const now = clock.now() / 1000;
      const known = verified.get(token);
      if (known) {
        // jsonwebtoken's own rule, without tolerance: expired once now >= exp.
        if (!allowExpired && now >= known.exp) throw expiredToken();
        return known;
      }
      if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) throw unknownToken();
      const key = keyFor(token);
      let decoded: jwt.Jwt;
      try {
        decoded = jwt.verify(token, key.verificationKey, {
          algorithms: [key.algorithm],
          issuer,
          audience,
          // No tolerance on `exp` (exact expiry); `iat` and `nbf` are checked with it in checkClaims.
          clockTolerance: 0,
          ignoreNotBefore: true,
          clockTimestamp: now,
          ignoreExpiration: allowExpired,
          complete: true,
        });
      } catch (error) {
        throw error instanceof jwt.TokenExpiredError ? expiredToken() : unknownToken();
      }
      const claims = checkClaims(decoded, now, clockTolerance);
      if (!claims) throw unknownToken();
      remember(token, claims);
      return claims;
    },
  };
}

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
