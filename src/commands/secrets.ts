/** `gen-secret` (an HS256 secret) and `gen-keys` (an ES256 key pair, or with `--rsa` an RSA one, PEM). */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Command } from "./shared.js";

export const genSecretCommand: Command = {
  name: "gen-secret",
  summary: "print a strong random HS256 secret (48 bytes, base64url) for jwt.secret",
  usage: "matrix-auth-gateway gen-secret",
  options: {},
  async main(_values, io) {
    io.out(`${crypto.randomBytes(48).toString("base64url")}\n`);
    return 0;
  },
};

export const genKeysCommand: Command = {
  name: "gen-keys",
  summary:
    "make an ES256 (P-256) key pair in PEM — with --rsa an RSA 3072 one, for RS256 or oauth.signing_key_file: printed, or written to DIR/private.pem (0600) and DIR/public.pem",
  usage: "matrix-auth-gateway gen-keys [--rsa] [--out DIR]",
  options: {
    out: { type: "string", short: "o", description: "directory to write private.pem and public.pem into" },
    rsa: { type: "boolean", description: "an RSA key (3072 bits): RS256, and the OAuth ID-token key" },
  },
  async main(values, io) {
    const privateKeyEncoding = { type: "pkcs8", format: "pem" } as const;
    const publicKeyEncoding = { type: "spki", format: "pem" } as const;
    // 3072 bits: NIST SP 800-57's size for keys used past 2030 (2048 is the least RFC 7518 allows).
    const { privateKey, publicKey } = values.rsa
      ? crypto.generateKeyPairSync("rsa", { modulusLength: 3072, privateKeyEncoding, publicKeyEncoding })
      : crypto.generateKeyPairSync("ec", { namedCurve: "P-256", privateKeyEncoding, publicKeyEncoding });
    const out = values.out as string | undefined;
    if (!out) {
      io.out(privateKey + publicKey);
      return 0;
    }
    fs.mkdirSync(out, { recursive: true, mode: 0o700 });
    const privatePath = path.join(out, "private.pem");
    try {
      fs.writeFileSync(privatePath, privateKey, { mode: 0o600, flag: "wx" });
    } catch (error) {
      io.err(`gen-keys: ${(error as Error).message} (an existing key is never overwritten)\n`);
      return 1;
    }
    fs.writeFileSync(path.join(out, "public.pem"), publicKey, { mode: 0o644 });
    io.out(`wrote ${privatePath} and ${path.join(out, "public.pem")}\n`);
    return 0;
  },
};
