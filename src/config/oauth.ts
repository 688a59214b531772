/**
 * Load-time checks of the OAuth 2.0 API's keys, and its ID-token signing key read once into a `KeyObject`.
 * `oauth.enabled` needs `public_baseurl` (the issuer and the base of every endpoint URL) and
 * `oauth.signing_key_file`: an RSA private key (PEM, at least 2048 bits; RFC 7518 §3.3) that signs ID tokens
 * with RS256 (OpenID Connect Core §3.1.3.7 requires RS256 support of clients). `matrix-auth-gateway gen-keys
 * --rsa` makes one.
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ParsedConfig } from "./schema.js";

/** The ID-token signing key, with the key ID published beside its public half. */
export interface OAuthSigningKey {
  /** RFC 7638 JWK thumbprint of the public key: a new key gets a new kid by itself. */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const MIN_RSA_BITS = 2048;

type Report = (keyPath: (string | number)[], message: string) => void;

/** `undefined` when OAuth is off, or when a problem was reported. */
export function readOAuthSigningKey(config: Pick<ParsedConfig, "oauth" | "public_baseurl">, baseDir: string, problem: Report) {
  const { enabled, signing_key_file } = config.oauth;
  if (!enabled) return undefined;
  if (config.public_baseurl === undefined) {
    problem(
      ["public_baseurl"],
      "oauth.enabled needs public_baseurl: the URL clients reach the gateway at, e.g. https://matrix.example.org/",
    );
  }
  if (signing_key_file === undefined) {
    problem(
      ["oauth", "signing_key_file"],
      "oauth.enabled needs oauth.signing_key_file (an RSA private key; matrix-auth-gateway gen-keys --rsa makes one)",
    );
    return undefined;
  }
  let privateKey: KeyObject;
  try {
    privateKey = crypto.createPrivateKey(fs.readFileSync(path.resolve(baseDir, signing_key_file)));
  } catch (error) {
    problem(["oauth", "signing_key_file"], `cannot read a PEM private key: ${(error as Error).message}`);
    return undefined;
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (privateKey.asymmetricKeyType !== "rsa" || bits < MIN_RSA_BITS) {
    const found = privateKey.asymmetricKeyType === "rsa" ? `an RSA key of ${bits} bits` : `a key of type ${privateKey.asymmetricKeyType}`;
    problem(["oauth", "signing_key_file"], `must be an RSA private key of at least ${MIN_RSA_BITS} bits (found ${found})`);
    return undefined;
  }
  const publicKey = crypto.createPublicKey(privateKey);
  return { kid: thumbprint(publicKey), privateKey, publicKey } satisfies OAuthSigningKey;
}

/** RFC 7638 §3: SHA-256 of the required members of the JWK (`e`, `kty`, `n`), in that order, without spaces. */
function thumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return crypto.createHash("sha256").update(canonical).digest("base64url");
}
