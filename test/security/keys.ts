/**
 * Signing keys for the key-set tests, generated at test time with node:crypto into a temp directory
 * removed when the test ends (no key is ever committed).
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Test } from "tap";

export interface PemKey {
  /** The key pair, for signing and verifying in the test itself. */
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Absolute paths of the PKCS#8 private key and SPKI public key files. */
  privateFile: string;
  publicFile: string;
  /** The SPKI PEM text (what an algorithm-confusion attacker would use as an HMAC secret). */
  publicPem: string;
}

export type KeyKind = { type: "ec"; curve: "P-256" | "P-384" } | { type: "rsa"; bits: number };

export const EC_P256: KeyKind = { type: "ec", curve: "P-256" };
export const EC_P384: KeyKind = { type: "ec", curve: "P-384" };
export const RSA_2048: KeyKind = { type: "rsa", bits: 2048 };
export const RSA_1024: KeyKind = { type: "rsa", bits: 1024 };

/** A temp directory removed when `t` ends. */
export function keyDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-keys-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Generates a key pair of `kind` and writes `NAME.key` (private) and `NAME.pub` (public) into `dir`. */
export function makeKey(dir: string, name: string, kind: KeyKind): PemKey {
  const { privateKey, publicKey } =
    kind.type === "ec"
      ? crypto.generateKeyPairSync("ec", { namedCurve: kind.curve })
      : crypto.generateKeyPairSync("rsa", { modulusLength: kind.bits });
  const privateFile = path.join(dir, `${name}.key`);
  const publicFile = path.join(dir, `${name}.pub`);
  const publicPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  fs.writeFileSync(privateFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  fs.writeFileSync(publicFile, publicPem);
  return { privateKey, publicKey, privateFile, publicFile, publicPem };
}

export interface KeyEntry {
  kid: string;
  algorithm: "HS256" | "RS256" | "ES256";
  secret?: string;
  private_key_file?: string;
  public_key_file?: string;
}

/** A one-line `jwt:` mapping (flow style) for the test gateway helper's `jwtYaml`. */
export function jwtYaml(keys: KeyEntry[], signingKey?: string): string {
  const entries = keys.map((k) =>
    Object.entries(k)
      .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
      .join(", "),
  );
  const signing = signingKey === undefined ? "" : `, signing_key: ${JSON.stringify(signingKey)}`;
  return `jwt: {keys: [${entries.map((e) => `{${e}}`).join(", ")}]${signing}}`;
}
