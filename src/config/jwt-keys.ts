/**
 * The keys that sign and verify access tokens, read once at load time into `KeyObject`s.
 *
 * `jwt.secret` / `jwt.secret_file` is shorthand for one HS256 key with kid `default`. `jwt.keys` lists
 * several (HS256, RS256, ES256), each with a kid; `jwt.signing_key` names the one that signs (default:
 * the first). Rotation: add the new key, switch `signing_key`, and remove the old key once every token
 * it signed has expired (`tokens.access_ttl`) — nobody is logged out.
 */
import crypto, { type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ParsedConfig } from "./schema.js";

export type JwtAlgorithm = "HS256" | "RS256" | "ES256";

export interface JwtKey {
  kid: string;
  algorithm: JwtAlgorithm;
  /** Present on keys that can sign (an HS256 secret, or an asymmetric private key). */
  signingKey: KeyObject | undefined;
  verificationKey: KeyObject;
}

export interface JwtKeySet {
  /** The HS256 secret of the `jwt.secret` shorthand (store keys are derived from it by default). */
  secret: Buffer | undefined;
  keys: JwtKey[];
  signingKid: string;
}

/** The smallest HMAC key RFC 7518 §3.2 allows for HS256. */
export const MIN_SECRET_BYTES = 32;
/** RFC 7518 §3.3: RSA keys of at least 2048 bits. */
const MIN_RSA_BITS = 2048;
export const DEFAULT_KID = "default";

type Report = (keyPath: (string | number)[], message: string) => void;

export function readJwtKeys(
  jwt: ParsedConfig["jwt"],
  baseDir: string,
  createMissingSecret: boolean,
  problem: Report,
): JwtKeySet | undefined {
  const forms = [jwt.secret !== undefined, jwt.secret_file !== undefined, jwt.keys !== undefined].filter(Boolean).length;
  if (forms !== 1) {
    problem(["jwt"], "set exactly one of jwt.secret, jwt.secret_file and jwt.keys");
    return undefined;
  }
  if (!jwt.keys) {
    const secret = readSecret(jwt.secret, jwt.secret_file, jwt.create_secret_file, baseDir, createMissingSecret, ["jwt"], problem);
    if (!secret) return undefined;
    const key = crypto.createSecretKey(secret);
    return { secret, keys: [{ kid: DEFAULT_KID, algorithm: "HS256", signingKey: key, verificationKey: key }], signingKid: DEFAULT_KID };
  }

  if (jwt.keys.length === 0) {
    problem(["jwt", "keys"], "list at least one key");
    return undefined;
  }
  const keys: JwtKey[] = [];
  const seen = new Set<string>();
  jwt.keys.forEach((spec, index) => {
    const at = ["jwt", "keys", index];
    if (seen.has(spec.kid)) problem([...at, "kid"], `duplicate kid "${spec.kid}"`);
    seen.add(spec.kid);
    const key = spec.algorithm === "HS256" ? readHmacKey(spec, baseDir, at, problem) : readAsymmetricKey(spec, baseDir, at, problem);
    if (key) keys.push(key);
  });
  const signingKid = jwt.signing_key ?? jwt.keys[0]?.kid ?? "";
  const signer = keys.find((k) => k.kid === signingKid);
  if (jwt.signing_key !== undefined && !jwt.keys.some((k) => k.kid === signingKid)) {
    problem(["jwt", "signing_key"], `no key has kid "${signingKid}"`);
  } else if (keys.length === jwt.keys.length && !signer?.signingKey) {
    problem(["jwt", "signing_key"], `key "${signingKid}" cannot sign: give it private_key_file`);
  }
  if (keys.length !== jwt.keys.length || !signer?.signingKey) return undefined;
  return { secret: undefined, keys, signingKid };
}

type KeySpec = NonNullable<ParsedConfig["jwt"]["keys"]>[number];

function readHmacKey(spec: KeySpec, baseDir: string, at: (string | number)[], problem: Report): JwtKey | undefined {
  if (spec.private_key_file !== undefined || spec.public_key_file !== undefined) {
    problem(at, "an HS256 key takes secret or secret_file, not PEM files");
    return undefined;
  }
  if ((spec.secret === undefined) === (spec.secret_file === undefined)) {
    problem(at, "an HS256 key needs exactly one of secret and secret_file");
    return undefined;
  }
  const secret = readSecret(spec.secret, spec.secret_file, false, baseDir, false, at, problem);
  if (!secret) return undefined;
  const key = crypto.createSecretKey(secret);
  return { kid: spec.kid, algorithm: "HS256", signingKey: key, verificationKey: key };
}

function readAsymmetricKey(spec: KeySpec, baseDir: string, at: (string | number)[], problem: Report): JwtKey | undefined {
  if (spec.secret !== undefined || spec.secret_file !== undefined) {
    problem(at, `an ${spec.algorithm} key takes private_key_file and/or public_key_file, not a secret`);
    return undefined;
  }
  if (spec.private_key_file === undefined && spec.public_key_file === undefined) {
    problem(at, `an ${spec.algorithm} key needs private_key_file (to sign) or public_key_file (to verify only)`);
    return undefined;
  }
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  try {
    if (spec.private_key_file !== undefined) {
      privateKey = crypto.createPrivateKey(fs.readFileSync(path.resolve(baseDir, spec.private_key_file)));
      publicKey = crypto.createPublicKey(privateKey);
    } else {
      publicKey = crypto.createPublicKey(fs.readFileSync(path.resolve(baseDir, spec.public_key_file as string)));
    }
  } catch (error) {
    const field = spec.private_key_file !== undefined ? "private_key_file" : "public_key_file";
    problem([...at, field], `cannot read a PEM key: ${(error as Error).message}`);
    return undefined;
  }
  const details = publicKey.asymmetricKeyDetails;
  if (spec.algorithm === "RS256" && (publicKey.asymmetricKeyType !== "rsa" || (details?.modulusLength ?? 0) < MIN_RSA_BITS)) {
    problem(at, `RS256 needs an RSA key of at least ${MIN_RSA_BITS} bits`);
    return undefined;
  }
  if (spec.algorithm === "ES256" && (publicKey.asymmetricKeyType !== "ec" || details?.namedCurve !== "prime256v1")) {
    problem(at, "ES256 needs an EC key on the P-256 curve (matrix-auth-gateway gen-keys makes one)");
    return undefined;
  }
  return { kid: spec.kid, algorithm: spec.algorithm, signingKey: privateKey, verificationKey: publicKey };
}

function readSecret(
  inline: string | undefined,
  file: string | undefined,
  createIfMissing: boolean,
  baseDir: string,
  createMissingSecret: boolean,
  at: (string | number)[],
  problem: Report,
): Buffer | undefined {
  let bytes: Buffer;
  if (inline !== undefined) {
    bytes = Buffer.from(inline, "utf8");
  } else {
    const resolved = path.resolve(baseDir, file as string);
    if (!fs.existsSync(resolved) && createIfMissing) {
      // --check must not write files: a secret that will be created is valid.
      if (!createMissingSecret) return crypto.randomBytes(MIN_SECRET_BYTES);
      fs.mkdirSync(path.dirname(resolved), { recursive: true, mode: 0o700 });
      fs.writeFileSync(resolved, `${crypto.randomBytes(48).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
    }
    try {
      bytes = Buffer.from(fs.readFileSync(resolved, "utf8").replace(/\r?\n$/, ""), "utf8");
    } catch (error) {
      problem([...at, "secret_file"], `cannot read secret file: ${(error as Error).message}`);
      return undefined;
    }
  }
  if (bytes.length < MIN_SECRET_BYTES) {
    problem(
      [...at, inline !== undefined ? "secret" : "secret_file"],
      `HS256 secret must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes.length})`,
    );
    return undefined;
  }
  return bytes;
}
