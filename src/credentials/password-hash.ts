/**
 * Password hashes for the users file: scrypt from node:crypto, in the form
 *   scrypt$N=16384,r=8,p=1$<salt, base64>$<hash, base64>
 * Parameters travel with each hash, so stronger ones can be introduced without invalidating old entries.
 */
import crypto from "node:crypto";
import { promisify } from "node:util";

const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/** OWASP's scrypt minimum (N=2^17) is too slow for a login path on two cores; N=2^14, r=8 is scrypt's interactive setting. */
export const DEFAULT_SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

export interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

export async function hashPassword(password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const hash = await scrypt(password, salt, KEY_BYTES, { ...params, maxmem: 256 * params.N * params.r });
  return `scrypt$N=${params.N},r=${params.r},p=${params.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function parseHash(text: string): ParsedHash | undefined {
  const match = FORMAT.exec(text);
  if (!match) return undefined;
  const [, N, r, p, salt, hash] = match as unknown as [string, string, string, string, string, string];
  const parsed = { N: Number(N), r: Number(r), p: Number(p), salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") };
  if (parsed.N < 2 || (parsed.N & (parsed.N - 1)) !== 0 || parsed.r < 1 || parsed.p < 1 || parsed.hash.length < 16) return undefined;
  return parsed;
}

/** Constant-time comparison of the recomputed hash. */
export async function verifyPassword(password: string, stored: ParsedHash): Promise<boolean> {
  const computed = await scrypt(password, stored.salt, stored.hash.length, {
    N: stored.N,
    r: stored.r,
    p: stored.p,
    maxmem: 256 * stored.N * stored.r,
  });
  return crypto.timingSafeEqual(computed, stored.hash);
}
