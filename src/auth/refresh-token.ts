/**
 * Refresh tokens: `magr_` + base64url(family ‖ secret), 16 + 32 random bytes.
 *
 * The family names the login session's chain of refresh tokens (RFC 9700 §4.14.2). Only its unused
 * tokens, the one they were issued for and recently superseded siblings are stored (`auth/rotation.ts`),
 * and only as SHA-256 hashes; any other token that names a live family can only come from someone who
 * saw a token of that chain, so it is treated as theft.
 */
import crypto from "node:crypto";
import type { RandomBytes } from "../clock.js";

export const REFRESH_TOKEN_PREFIX = "magr_";
const FAMILY_BYTES = 16;
const SECRET_BYTES = 32;
const ENCODED_LENGTH = Math.ceil(((FAMILY_BYTES + SECRET_BYTES) * 4) / 3);
const SHAPE = new RegExp(`^${REFRESH_TOKEN_PREFIX}[A-Za-z0-9_-]{${ENCODED_LENGTH}}$`);

export interface IssuedRefreshToken {
  token: string;
  family: string;
  hash: string;
}

export function newFamily(random: RandomBytes): string {
  return random(FAMILY_BYTES).toString("base64url");
}

export function issueRefreshToken(family: string, random: RandomBytes): IssuedRefreshToken {
  const bytes = Buffer.concat([Buffer.from(family, "base64url"), random(SECRET_BYTES)]);
  const token = REFRESH_TOKEN_PREFIX + bytes.toString("base64url");
  return { token, family, hash: hashRefreshToken(token) };
}

/** The family of a well-formed token, without hashing it (for rate-limit keys). */
export function refreshTokenFamily(token: string): string | undefined {
  if (!SHAPE.test(token)) return undefined;
  return Buffer.from(token.slice(REFRESH_TOKEN_PREFIX.length), "base64url").subarray(0, FAMILY_BYTES).toString("base64url");
}

/** The family and hash of a well-formed token; `undefined` for anything else. */
export function parseRefreshToken(token: string): { family: string; hash: string } | undefined {
  if (!SHAPE.test(token)) return undefined;
  const bytes = Buffer.from(token.slice(REFRESH_TOKEN_PREFIX.length), "base64url");
  if (bytes.length !== FAMILY_BYTES + SECRET_BYTES) return undefined;
  return { family: bytes.subarray(0, FAMILY_BYTES).toString("base64url"), hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return crypto.createHash("sha256").update(token).digest("base64url");
}
