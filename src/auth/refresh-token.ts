/**
 * Refresh tokens: a prefix + base64url(family ‖ secret), 16 + 32 random bytes.
 *
 * The family names the login session's chain of refresh tokens (RFC 9700 §4.14.2). Only its unused
 * tokens, the one they were issued for and recently superseded siblings are stored (`auth/rotation.ts`),
 * and only as SHA-256 hashes; any other token that names a live family can only come from someone who
 * saw a token of that chain, so it is treated as theft.
 *
 * Two kinds, never exchangeable for each other: `magr_` tokens of the Matrix login API (`/refresh`) and
 * `mago_` tokens of the OAuth 2.0 API (its token endpoint). An OAuth family is stored as `o.` + its
 * bytes: `.` is not in the base64url alphabet, so a legacy token presented at the token endpoint (or an
 * OAuth one at `/refresh`, which refuses the prefix) names no live family and is refused without effect,
 * instead of reading as theft from a chain it does not belong to.
 */
import crypto from "node:crypto";
import type { RandomBytes } from "../clock.js";

export type RefreshTokenKind = "matrix" | "oauth";

export const REFRESH_TOKEN_PREFIX = "magr_";
export const OAUTH_REFRESH_TOKEN_PREFIX = "mago_";
const PREFIX: Record<RefreshTokenKind, string> = { matrix: REFRESH_TOKEN_PREFIX, oauth: OAUTH_REFRESH_TOKEN_PREFIX };
/** What the stored family of each kind starts with. */
const FAMILY_MARK: Record<RefreshTokenKind, string> = { matrix: "", oauth: "o." };
const FAMILY_BYTES = 16;
const SECRET_BYTES = 32;
const ENCODED_LENGTH = Math.ceil(((FAMILY_BYTES + SECRET_BYTES) * 4) / 3);
const BODY = `[A-Za-z0-9_-]{${ENCODED_LENGTH}}`;
const SHAPE: Record<RefreshTokenKind, RegExp> = {
  matrix: new RegExp(`^${REFRESH_TOKEN_PREFIX}${BODY}$`),
  oauth: new RegExp(`^${OAUTH_REFRESH_TOKEN_PREFIX}${BODY}$`),
};

export interface IssuedRefreshToken {
  token: string;
  family: string;
  hash: string;
}

export function newFamily(random: RandomBytes, kind: RefreshTokenKind = "matrix"): string {
  return FAMILY_MARK[kind] + random(FAMILY_BYTES).toString("base64url");
}

/** The kind a stored family belongs to. */
export function familyKind(family: string): RefreshTokenKind {
  return family.startsWith(FAMILY_MARK.oauth) ? "oauth" : "matrix";
}

export function issueRefreshToken(family: string, random: RandomBytes): IssuedRefreshToken {
  const kind = familyKind(family);
  const raw = family.slice(FAMILY_MARK[kind].length);
  const bytes = Buffer.concat([Buffer.from(raw, "base64url"), random(SECRET_BYTES)]);
  const token = PREFIX[kind] + bytes.toString("base64url");
  return { token, family, hash: hashRefreshToken(token) };
}

/** The family of a well-formed token of `kind`, without hashing it (for rate-limit keys). */
export function refreshTokenFamily(token: string, kind: RefreshTokenKind = "matrix"): string | undefined {
  if (!SHAPE[kind].test(token)) return undefined;
  const bytes = Buffer.from(token.slice(PREFIX[kind].length), "base64url");
  return FAMILY_MARK[kind] + bytes.subarray(0, FAMILY_BYTES).toString("base64url");
}

/** The family and hash of a well-formed token of `kind`; `undefined` for anything else. */
export function parseRefreshToken(token: string, kind: RefreshTokenKind = "matrix"): { family: string; hash: string } | undefined {
  if (!SHAPE[kind].test(token)) return undefined;
  const bytes = Buffer.from(token.slice(PREFIX[kind].length), "base64url");
  if (bytes.length !== FAMILY_BYTES + SECRET_BYTES) return undefined;
  return { family: FAMILY_MARK[kind] + bytes.subarray(0, FAMILY_BYTES).toString("base64url"), hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return crypto.createHash("sha256").update(token).digest("base64url");
}
