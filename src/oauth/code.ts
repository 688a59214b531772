/**
 * Authorization codes (RFC 6749 §4.1.2): 32 random bytes, base64url. The store keeps only their SHA-256,
 * so a copy of the store hands out no usable code.
 */
import crypto from "node:crypto";
import type { RandomBytes } from "../clock.js";

const CODE_BYTES = 32;

export function newAuthorizationCode(random: RandomBytes): { code: string; hash: string } {
  const code = random(CODE_BYTES).toString("base64url");
  return { code, hash: hashAuthorizationCode(code) };
}

export function hashAuthorizationCode(code: string): string {
  return crypto.createHash("sha256").update(code).digest("base64url");
}
