/**
 * The OAuth keys' load-time checks: `oauth.enabled` needs `public_baseurl` and a readable RSA private key of
 * at least 2048 bits in `oauth.signing_key_file`; each problem is one `FILE:LINE:COL: key: message` line; a
 * key file others can read is a warning.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import t from "tap";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { rsaPrivateKeyPem, writeKeyFile } from "../helpers/oauth.js";

const BASE = 'server_name: example.org\njwt: {secret: "0123456789abcdef0123456789abcdef"}\nstore: {type: memory}\n';

function problems(text: string, file: string): string[] {
  try {
    parseConfig(text, file, { env: {} });
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected a ConfigError, but the file was accepted");
}

t.test("enabled with a key and a public_baseurl: the key is read, a kid derived; off: no key needed", async (t) => {
  const keyFile = writeKeyFile(t);
  const file = path.join(path.dirname(keyFile), "gw.yaml");
  const config = parseConfig(
    `${BASE}public_baseurl: https://matrix.example.org\noauth: {enabled: true, signing_key_file: oauth-signing.pem}`,
    file,
  );
  t.equal(config.public_baseurl, "https://matrix.example.org/", "normalized with a trailing slash");
  t.equal(config.oauth.signing_key?.privateKey.asymmetricKeyType, "rsa");
  t.equal(config.oauth.signing_key?.publicKey.type, "public");
  t.match(config.oauth.signing_key?.kid, /^[A-Za-z0-9_-]{43}$/);
  t.same(config.warnings, []);
  const off = parseConfig(BASE, file);
  t.equal(off.oauth.enabled, false);
  t.equal(off.oauth.signing_key, undefined);
});

t.test("every problem of an enabled OAuth without its keys, with its position", async (t) => {
  const file = path.join(t.testdir({}), "gw.yaml");
  t.same(problems(`${BASE}oauth:\n  enabled: true\n`, file), [
    `${file}:1:1: public_baseurl: oauth.enabled needs public_baseurl: the URL clients reach the gateway at, e.g. https://matrix.example.org/`,
    `${file}:4:1: oauth.signing_key_file: oauth.enabled needs oauth.signing_key_file (an RSA private key; matrix-auth-gateway gen-keys --rsa makes one)`,
  ]);
});

t.test("a key file that is missing, not PEM, not RSA or too small", async (t) => {
  const dir = t.testdir({ "garbage.pem": "not a key\n" });
  const file = path.join(dir, "gw.yaml");
  const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const small = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const publicOnly = crypto.createPublicKey(rsaPrivateKeyPem()).export({ type: "spki", format: "pem" }) as string;
  fs.writeFileSync(path.join(dir, "ec.pem"), ec);
  fs.writeFileSync(path.join(dir, "small.pem"), small);
  fs.writeFileSync(path.join(dir, "public.pem"), publicOnly);
  const withKey = (name: string) =>
    problems(`${BASE}public_baseurl: https://matrix.example.org/\noauth:\n  enabled: true\n  signing_key_file: ${name}\n`, file);

  const missing = withKey("absent.pem");
  t.equal(missing.length, 1);
  t.match(missing[0], new RegExp(`^${file}:7:3: oauth.signing_key_file: cannot read a PEM private key: ENOENT`));
  for (const name of ["garbage.pem", "public.pem"]) {
    const lines = withKey(name);
    t.equal(lines.length, 1, name);
    t.match(lines[0], new RegExp(`^${file}:7:3: oauth.signing_key_file: cannot read a PEM private key: `), name);
  }
  t.same(withKey("ec.pem"), [
    `${file}:7:3: oauth.signing_key_file: must be an RSA private key of at least 2048 bits (found a key of type ec)`,
  ]);
  t.same(withKey("small.pem"), [
    `${file}:7:3: oauth.signing_key_file: must be an RSA private key of at least 2048 bits (found an RSA key of 1024 bits)`,
  ]);
});

t.test("a key file readable by others is a warning", async (t) => {
  const keyFile = writeKeyFile(t, rsaPrivateKeyPem(), 0o644);
  const file = path.join(path.dirname(keyFile), "gw.yaml");
  const config = parseConfig(
    `${BASE}public_baseurl: https://matrix.example.org\noauth: {enabled: true, signing_key_file: oauth-signing.pem}`,
    file,
  );
  t.same(config.warnings, [
    {
      line: 5,
      col: 24,
      path: "oauth.signing_key_file",
      message: "oauth-signing.pem is readable by group or others (mode 0644): chmod 600 it",
      file: keyFile,
    },
  ]);
});

t.test("the auth_metadata path is no longer a public endpoint: the gateway answers it itself", async (t) => {
  const config = parseConfig(BASE, path.join(t.testdir({}), "gw.yaml"));
  t.notOk(
    config.public_endpoints.some((p) => p.includes("auth_metadata")),
    "not in the default public_endpoints",
  );
});
