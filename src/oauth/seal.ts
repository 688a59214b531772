/**
 * What the browser pages hand the browser and must get back unchanged: the authorization request in the login
 * form, the login's outcome in the consent form, the account page's session cookie. Sealed as compact JWE
 * (`dir`, A256GCM, RFC 7516) with a key derived from the store's encryption key, so the state lives in the
 * browser (no server-side session: any worker or instance sharing the configuration opens it, and a restart
 * loses nothing), the browser can neither read nor alter it, and it expires on its own (`exp`). The JWE `typ`
 * names its purpose, so one kind of seal is never accepted as another.
 */
import crypto from "node:crypto";
import { EncryptJWT, type JWTPayload, jwtDecrypt } from "jose";
import type { Clock } from "../clock.js";

export type SealPurpose = "authorize" | "grant" | "account-login" | "account-session" | "account-form";

export interface Sealer {
  seal(purpose: SealPurpose, payload: JWTPayload, ttlMs: number): Promise<string>;
  /** The payload, or `undefined` when the seal is not one of ours, not of this purpose, altered or expired. */
  open(purpose: SealPurpose, sealed: string | undefined): Promise<JWTPayload | undefined>;
}

const KEY_INFO = "matrix-auth-gateway oauth browser pages";
/**
 * A memory store configured with `jwt.keys` only has no key material (config/load.ts gives it zeros, as it
 * seals nothing): the pages then use a key of this process, which a single-process memory store is anyway.
 */
let processKey: Buffer | undefined;

export function createSealer(storeKey: Buffer, clock: Clock): Sealer {
  let material = storeKey;
  if (storeKey.every((byte) => byte === 0)) {
    processKey ??= crypto.randomBytes(32);
    material = processKey;
  }
  // A key of its own (HKDF, RFC 5869): the credentials at rest and the pages never share one.
  const key = new Uint8Array(crypto.hkdfSync("sha256", material, Buffer.alloc(0), KEY_INFO, 32));
  return {
    async seal(purpose, payload, ttlMs) {
      const now = clock.now();
      return new EncryptJWT(payload)
        .setProtectedHeader({ alg: "dir", enc: "A256GCM", typ: purpose })
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor((now + ttlMs) / 1000))
        .encrypt(key);
    },
    async open(purpose, sealed) {
      if (!sealed) return undefined;
      try {
        const { payload } = await jwtDecrypt(sealed, key, {
          typ: purpose,
          currentDate: new Date(clock.now()),
          keyManagementAlgorithms: ["dir"],
          contentEncryptionAlgorithms: ["A256GCM"],
        });
        return payload;
      } catch {
        return undefined;
      }
    },
  };
}
