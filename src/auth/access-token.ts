/**
 * Short-lived JWT access tokens (RFC 7519, RFC 9068 `typ: at+jwt`), HS256 with a key built once.
 * jsonwebtoken leaves several checks to the caller (RFC 8725): the algorithm is pinned, `exp` is
 * required, `typ` is checked, `iat` may not be in the future, and oversized or malformed tokens are
 * refused before any crypto.
 */
import crypto, { type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Clock, RandomBytes } from "../clock.js";
import { expiredToken, type MatrixError, unknownToken } from "../http/errors.js";

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
  secret: Buffer;
  issuer: string;
  audience: string;
  clockSkewMs: number;
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
const ALGORITHM = "HS256";
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const key: KeyObject = crypto.createSecretKey(options.secret);
  const { issuer, audience, clock, random } = options;
  const clockTolerance = Math.floor(options.clockSkewMs / 1000);

  return {
    issue(userId, sessionId, expiresAt) {
      const iat = Math.floor(clock.now() / 1000);
      const payload = { sub: userId, sid: sessionId, jti: random(12).toString("base64url"), iat, exp: Math.floor(expiresAt / 1000) };
      return jwt.sign(payload, key, { algorithm: ALGORITHM, issuer, audience, header: { alg: ALGORITHM, typ: ACCESS_TOKEN_TYPE } });
    },

    verify(token, { allowExpired = false } = {}) {
      if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) throw unknownToken();
      const now = Math.floor(clock.now() / 1000);
      let decoded: jwt.Jwt;
      try {
        decoded = jwt.verify(token, key, {
          algorithms: [ALGORITHM],
          issuer,
          audience,
          clockTolerance,
          clockTimestamp: now,
          ignoreExpiration: allowExpired,
          complete: true,
        });
      } catch (error) {
        throw error instanceof jwt.TokenExpiredError ? expiredToken() : unknownToken();
      }
      return checkClaims(decoded, now, clockTolerance);
    },
  };
}

function checkClaims(decoded: jwt.Jwt, now: number, tolerance: number): AccessClaims {
  const invalid: MatrixError = unknownToken();
  if (decoded.header.typ !== ACCESS_TOKEN_TYPE) throw invalid;
  const p = decoded.payload;
  if (typeof p !== "object" || p === null) throw invalid;
  if (typeof p.exp !== "number" || typeof p.iat !== "number" || typeof p.sub !== "string" || typeof p.jti !== "string") throw invalid;
  const sid = (p as Record<string, unknown>).sid;
  if (typeof sid !== "string") throw invalid;
  if (p.iat > now + tolerance) throw invalid;
  return { sub: p.sub, sid, jti: p.jti, iat: p.iat, exp: p.exp };
}
