/**
 * security.md, "JWT (access tokens)", with the key sets of `jwt.keys` (src/config/jwt-keys.ts): every
 * box is a named passing test, here or in the file named next to it.
 *
 * - [x] `alg: none` / `None` / `NONE`, with and without a trailing dot
 *       → test/auth/access-token.test.ts "hostile tokens are refused with 401 M_UNKNOWN_TOKEN, soft_logout false" (alg none rows)
 * - [x] empty signature; signature by another key; one flipped bit in header, payload or signature
 *       → same test ("empty signature", "signed with another key", "bit N of … flipped" rows);
 *         with key sets: "tokens the key set does not vouch for are refused" below (attacker key naming a real kid)
 * - [x] algorithm confusion: a header naming another algorithm than the configured one
 *       → same test (HS384/HS512/RS256/ES256 header rows); with an asymmetric key:
 *         "algorithm confusion: an HS256 token keyed with the ES256 public key is refused" below
 * - [x] `jwk`, `jku`, `x5u` headers are ignored; an unknown or injected `kid` (`../../dev/null`) is rejected
 *       → same test (jwk/jku/x5u/kid rows, one HS256 key); with key sets: "tokens the key set does not vouch for are refused"
 * - [x] expired; missing `exp`; `nbf` / `iat` in the future; clock skew just inside and just outside
 *       → test/auth/access-token.test.ts "expiry and clock skew", "clock skew boundaries of iat and nbf …",
 *         "missing exp, signed by jsonwebtoken itself with the real secret, is refused";
 *         through the gateway: test/routes/proxied.test.ts "an expired token: Synapse's soft-logout answer"
 * - [x] wrong or missing `iss`, `aud`, `typ`; a refresh token presented as an access token and the reverse
 *       → access-token.test.ts hostile rows (iss/aud/typ, "a refresh token (magr_…) is not an access token");
 *         the reverse: test/routes/refresh.test.ts "bad refresh tokens are refused without revoking anything" ("an access token" row)
 * - [x] oversized token (> 8 KiB), non-JSON or non-object payload, base64 variants — rejected before any crypto
 *       → access-token.test.ts "oversized tokens are refused unread (> 8 KiB), even when genuinely signed" and the shape rows
 * - [x] token in both query and header; two `Authorization` headers
 *       → test/auth/extract-token.test.ts "extractToken table"; test/routes/proxied.test.ts "token in both header and query";
 *         two headers through the gateway: test/security/http.test.ts "two Authorization headers through the gateway"
 * - [x] HMAC secret shorter than 32 bytes is a config error
 *       → test/config/load.test.ts "every invalid file names …" ("secret shorter than 32 bytes"), "jwt.secret_file";
 *         inside jwt.keys: "key-set config errors name their path" below
 * - [x] keys are built once as `KeyObject`s → "keys are read once, into KeyObjects" below
 *
 * Added with key sets: rotation end to end through a real gateway and `gateway.reload()`, the move from
 * `jwt.secret` to `jwt.keys` (docs/operations-state.md, key rotation), RS256, the JWKS document, and the config
 * errors of jwt.keys.
 */
import crypto, { KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import jwt from "jsonwebtoken";
import t, { type Test } from "tap";
import { ManualClock } from "../../src/clock.js";
import { ConfigError, type ConfigProblem, parseConfig } from "../../src/config/load.js";
import { startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { bearer, SERVER_NAME, startGateway, TEST_SECRET, type TestGateway, testConfig } from "../helpers/gateway.js";
import { decodeJwt, expectError, expectOwnHeaders, refresh, whoami } from "../helpers/session-api.js";
import { EC_P256, EC_P384, jwtYaml, type KeyEntry, keyDir, makeKey, type PemKey, RSA_1024, RSA_2048 } from "./keys.js";

const JWKS = "/.well-known/jwks.json";
/** With jwt.keys a memory store gets a random key per parse; a fixed one keeps reloads clean. */
const STORE_YAML = 'store: {type: memory, encryption_key: "store-key-that-is-at-least-32-bytes-long"}';
const INVALID = { soft_logout: false };
const HMAC_SECRET = "hmac-secret-that-is-at-least-32-bytes-long";

const b64 = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** A compact JWS over `header` and `payload`, signed by `sign` (any key, any algorithm: the test decides). */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, sign: (input: Buffer) => Buffer): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${sign(Buffer.from(input)).toString("base64url")}`;
}
const es256 = (key: KeyObject) => (input: Buffer) => crypto.sign("sha256", input, { key, dsaEncoding: "ieee-p1363" });
const rs256 = (key: KeyObject) => (input: Buffer) => crypto.sign("sha256", input, key);
const hs256 = (secret: string | Buffer) => (input: Buffer) => crypto.createHmac("sha256", secret).update(input).digest();

async function startWithKeys(t: Test, keys: KeyEntry[], signingKey?: string): Promise<TestGateway> {
  return startGateway(t, { jwtYaml: jwtYaml(keys, signingKey), storeYaml: STORE_YAML });
}

/** Applies a new key set to the running gateway, as SIGHUP does. Nothing needs a restart. */
function reloadKeys(t: Test, gw: TestGateway, keys: KeyEntry[], signingKey?: string): void {
  const next = testConfig(gw.homeserver.url, { jwtYaml: jwtYaml(keys, signingKey), storeYaml: STORE_YAML });
  t.same(gw.gateway.reload(next), [], "the reload needs no restart");
}

const es = (kid: string, key: PemKey): KeyEntry => ({ kid, algorithm: "ES256", private_key_file: key.privateFile });
const rs = (kid: string, key: PemKey): KeyEntry => ({ kid, algorithm: "RS256", private_key_file: key.privateFile });

/** Asserts the gateway's own 401 for a bad token, and that the request never reached the homeserver. */
async function expectRefusedToken(t: Test, gw: TestGateway, token: string, name: string): Promise<void> {
  const before = gw.homeserver.received.length;
  await t.test(name, async (t) => {
    expectError(t, await whoami(gw, token), 401, "M_UNKNOWN_TOKEN", INVALID, "Invalid access token passed.");
  });
  t.equal(gw.homeserver.received.length, before, `${name}: not forwarded`);
}

async function expectAccepted(t: Test, gw: TestGateway, token: string, name: string): Promise<void> {
  const me = await whoami(gw, token);
  t.equal(me.status, 200, `${name}: accepted`);
  t.equal(me.body.user_id, "@alice:example.org", `${name}: as alice`);
}

t.test("keys are read once, into KeyObjects", async (t) => {
  const dir = keyDir(t);
  const ec = makeKey(dir, "ec", EC_P256);
  const rsa = makeKey(dir, "rsa", RSA_2048);
  const keys: KeyEntry[] = [
    es("ec", ec),
    rs("rsa", rsa),
    { kid: "verify-only", algorithm: "ES256", public_key_file: ec.publicFile },
    { kid: "mac", algorithm: "HS256", secret: HMAC_SECRET },
  ];
  const gw = await startWithKeys(t, keys);
  const loaded = gw.config.jwt.keys;
  t.same(
    loaded.map((k) => [k.kid, k.algorithm, k.signingKey?.type, k.verificationKey.type]),
    [
      ["ec", "ES256", "private", "public"],
      ["rsa", "RS256", "private", "public"],
      ["verify-only", "ES256", undefined, "public"],
      ["mac", "HS256", "secret", "secret"],
    ],
  );
  for (const key of loaded) {
    t.ok(key.verificationKey instanceof KeyObject, `${key.kid}: the verification key is a KeyObject`);
    if (key.signingKey) t.ok(key.signingKey instanceof KeyObject, `${key.kid}: the signing key is a KeyObject`);
  }
  t.equal(gw.config.jwt.signing_kid, "ec", "the first key signs by default");

  // The files are not read again: with them gone, the gateway still signs and verifies.
  for (const file of fs.readdirSync(dir)) fs.rmSync(path.join(dir, file));
  const login = await gw.login();
  t.same(decodeJwt(login.access_token).header, { alg: "ES256", typ: "at+jwt", kid: "ec" });
  await expectAccepted(t, gw, login.access_token, "a token signed after the key files were removed");
});

t.test("key rotation end to end: add, switch signing_key, remove", async (t) => {
  const dir = keyDir(t);
  const oldKey = makeKey(dir, "old", EC_P256);
  const newKey = makeKey(dir, "new", EC_P256);
  const gw = await startWithKeys(t, [es("old", oldKey)]);

  // 1. One key: tokens carry its kid.
  const before = await gw.login();
  t.same(decodeJwt(before.access_token).header, { alg: "ES256", typ: "at+jwt", kid: "old" });
  await expectAccepted(t, gw, before.access_token, "the old key's token");

  // 2. Both keys, the new one signing: old tokens still work, new ones are signed with the new kid.
  reloadKeys(t, gw, [es("new", newKey), es("old", oldKey)], "new");
  await expectAccepted(t, gw, before.access_token, "the old key's token after the switch");
  const after = await gw.login();
  t.same(decodeJwt(after.access_token).header, { alg: "ES256", typ: "at+jwt", kid: "new" });
  await expectAccepted(t, gw, after.access_token, "the new key's token");
  const refreshed = await refresh(gw, before.refresh_token);
  t.equal(refreshed.status, 200, "the old session refreshes");
  t.equal(decodeJwt(refreshed.body.access_token).header.kid, "new", "…and gets a token of the new key");
  const published = await gw.request(JWKS);
  t.same(
    published.body.keys.map((k: { kid: string }) => k.kid),
    ["new", "old"],
    "the JWKS lists both keys during the overlap",
  );

  // 3. The old key removed (after access_ttl): its tokens are refused; the sessions themselves live on.
  reloadKeys(t, gw, [es("new", newKey)]);
  await expectRefusedToken(t, gw, before.access_token, "the old key's token after its removal");
  await expectAccepted(t, gw, after.access_token, "the new key's token after the removal");
  await expectAccepted(t, gw, refreshed.body.access_token, "the refreshed token after the removal");
  const again = await refresh(gw, refreshed.body.refresh_token);
  t.equal(again.status, 200, "nobody was logged out: the session's refresh token still works");
  t.equal(decodeJwt(again.body.access_token).header.kid, "new");
  t.same(
    (await gw.request(JWKS)).body.keys.map((k: { kid: string }) => k.kid),
    ["new"],
    "the JWKS follows the reload",
  );
});

t.test("moving from jwt.secret to jwt.keys logs nobody out (docs/operations-state.md, key rotation)", async (t) => {
  const dir = keyDir(t);
  const next = makeKey(dir, "next", EC_P256);
  const homeserver = await startFakeHomeserver(SERVER_NAME);
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  const clock = new ManualClock(Date.now());
  const file = path.join(dir, "gw.sqlite");

  // Before: the shorthand, whose store key is derived from the secret.
  const before = await startGateway(t, { homeserver, clock, storeYaml: `store: {type: sqlite, path: "${file}"}` });
  const login = await before.login();
  t.equal(decodeJwt(login.access_token).header.kid, "default", "the shorthand's kid");

  // After: the old secret as kid "default", a new signing key, and the old secret as store key.
  const options = {
    homeserver,
    clock,
    jwtYaml: jwtYaml([{ kid: "default", algorithm: "HS256", secret: TEST_SECRET }, es("next", next)], "next"),
    storeYaml: `store: {type: sqlite, path: "${file}", encryption_key: "${TEST_SECRET}"}`,
  };
  // By SIGHUP: nothing needs a restart, since the store key is unchanged.
  t.same(before.gateway.reload(testConfig(homeserver.url, options)), [], "a reload applies it");
  await expectAccepted(t, before, login.access_token, "the shorthand's token after the reload");
  t.equal(decodeJwt((await before.login()).access_token).header.kid, "next", "new tokens carry the new kid");
  await before.gateway.close();

  // And by restart on the same file.
  const after = await startGateway(t, options);
  t.ok(after.config.store.encryption_key.equals(before.config.store.encryption_key), "the same store key");
  await expectAccepted(t, after, login.access_token, "the shorthand's token");
  const refreshed = await refresh(after, login.refresh_token);
  t.equal(refreshed.status, 200, "the stored session (its sealed homeserver token) is readable");
  t.equal(decodeJwt(refreshed.body.access_token).header.kid, "next");
  await expectAccepted(t, after, refreshed.body.access_token, "the new key's token");
});

t.test("tokens the key set does not vouch for are refused", async (t) => {
  const dir = keyDir(t);
  const a = makeKey(dir, "a", EC_P256);
  const b = makeKey(dir, "b", RSA_2048);
  const verifyOnly = makeKey(dir, "peer", EC_P256);
  const attackerEc = makeKey(dir, "attacker-ec", EC_P256);
  const attackerRsa = makeKey(dir, "attacker-rsa", RSA_2048);
  const gw = await startWithKeys(t, [es("a", a), rs("b", b), { kid: "peer", algorithm: "ES256", public_key_file: verifyOnly.publicFile }]);
  const genuine = (await gw.login()).access_token as string;
  const { payload } = decodeJwt(genuine);
  const header = (extra: Record<string, unknown>) => ({ typ: "at+jwt", ...extra });

  // Baselines: forge() signs exactly as the gateway does, so each refusal below is caused by its one change.
  await expectAccepted(t, gw, genuine, "the genuine token");
  await expectAccepted(t, gw, forge(header({ alg: "ES256", kid: "a" }), payload, es256(a.privateKey)), "re-signed with key a");
  await expectAccepted(t, gw, forge(header({ alg: "RS256", kid: "b" }), payload, rs256(b.privateKey)), "signed with key b");
  await expectAccepted(
    t,
    gw,
    forge(header({ alg: "ES256", kid: "peer" }), payload, es256(verifyOnly.privateKey)),
    "signed by the holder of a verify-only key (another instance)",
  );

  const cases: [string, string][] = [
    ["an unknown kid", forge(header({ alg: "ES256", kid: "c" }), payload, es256(attackerEc.privateKey))],
    ["kid ../../dev/null, ES256", forge(header({ alg: "ES256", kid: "../../dev/null" }), payload, es256(attackerEc.privateKey))],
    ["kid ../../dev/null, HS256 with an empty key", forge(header({ alg: "HS256", kid: "../../dev/null" }), payload, hs256(""))],
    ["kid /dev/null", forge(header({ alg: "HS256", kid: "/dev/null" }), payload, hs256(""))],
    ["kid SQL injection", forge(header({ alg: "HS256", kid: "x' UNION SELECT 'secret" }), payload, hs256("secret"))],
    ["kid a number", forge(header({ alg: "ES256", kid: 1 }), payload, es256(a.privateKey))],
    ["kid null", forge(header({ alg: "ES256", kid: null }), payload, es256(a.privateKey))],
    ["kid an array naming a", forge(header({ alg: "ES256", kid: ["a"] }), payload, es256(a.privateKey))],
    ["kid in another case", forge(header({ alg: "ES256", kid: "A" }), payload, es256(a.privateKey))],
    ["the attacker's ES256 key naming kid a", forge(header({ alg: "ES256", kid: "a" }), payload, es256(attackerEc.privateKey))],
    ["the attacker's RS256 key naming kid b", forge(header({ alg: "RS256", kid: "b" }), payload, rs256(attackerRsa.privateKey))],
    ["the attacker's key naming the verify-only kid", forge(header({ alg: "ES256", kid: "peer" }), payload, es256(attackerEc.privateKey))],
    ["key a's signature under kid b", forge(header({ alg: "ES256", kid: "b" }), payload, es256(a.privateKey))],
    ["key b's signature under kid a", forge(header({ alg: "RS256", kid: "a" }), payload, rs256(b.privateKey))],
    ["kid a, HS256 keyed with a's public PEM", forge(header({ alg: "HS256", kid: "a" }), payload, hs256(a.publicPem))],
    ["kid b, HS256 keyed with b's public PEM", forge(header({ alg: "HS256", kid: "b" }), payload, hs256(b.publicPem))],
    ["no kid, signed by the signing key (two keys: a kid is required)", forge(header({ alg: "ES256" }), payload, es256(a.privateKey))],
    [
      "embedded jwk of the attacker, kid a",
      forge(header({ alg: "ES256", kid: "a", jwk: attackerEc.publicKey.export({ format: "jwk" }) }), payload, es256(attackerEc.privateKey)),
    ],
    [
      "jku to the attacker's key set, unknown kid",
      forge(header({ alg: "ES256", kid: "evil", jku: "http://127.0.0.1:1/jwks.json" }), payload, es256(attackerEc.privateKey)),
    ],
    ["alg none, kid a", `${b64(JSON.stringify(header({ alg: "none", kid: "a" })))}.${b64(JSON.stringify(payload))}.`],
  ];
  for (const [name, token] of cases) await expectRefusedToken(t, gw, token, name);
});

t.test("algorithm confusion: an HS256 token keyed with the ES256 public key is refused", async (t) => {
  const dir = keyDir(t);
  const only = makeKey(dir, "only", EC_P256);
  const gw = await startWithKeys(t, [es("only", only)]);
  const { payload } = decodeJwt((await gw.login()).access_token);
  const der = only.publicKey.export({ type: "spki", format: "der" });
  const jwkText = JSON.stringify(only.publicKey.export({ format: "jwk" }));

  // With exactly one key a kid-less token can only mean that key: a genuine one is accepted…
  await expectAccepted(t, gw, forge({ alg: "ES256", typ: "at+jwt" }, payload, es256(only.privateKey)), "kid-less ES256 (one key)");
  // …and an HS256 one is refused whatever public material keys the MAC.
  const cases: [string, string][] = [
    ["PEM as secret, kid given", forge({ alg: "HS256", typ: "at+jwt", kid: "only" }, payload, hs256(only.publicPem))],
    ["PEM as secret, no kid", forge({ alg: "HS256", typ: "at+jwt" }, payload, hs256(only.publicPem))],
    ["PEM without its trailing newline", forge({ alg: "HS256", typ: "at+jwt" }, payload, hs256(only.publicPem.trimEnd()))],
    ["DER as secret", forge({ alg: "HS256", typ: "at+jwt", kid: "only" }, payload, hs256(der))],
    ["JWK text as secret", forge({ alg: "HS256", typ: "at+jwt", kid: "only" }, payload, hs256(jwkText))],
    [
      "HS512 with the PEM",
      forge({ alg: "HS512", typ: "at+jwt" }, payload, (i) => crypto.createHmac("sha512", only.publicPem).update(i).digest()),
    ],
    ["ES384 header on an ES256 signature", forge({ alg: "ES384", typ: "at+jwt", kid: "only" }, payload, es256(only.privateKey))],
  ];
  for (const [name, token] of cases) await expectRefusedToken(t, gw, token, name);
});

t.test("RS256 signs as well as ES256, and the JWKS verifies the gateway's tokens", async (t) => {
  const dir = keyDir(t);
  const ec = makeKey(dir, "ec", EC_P256);
  const rsa = makeKey(dir, "rsa", RSA_2048);
  const keys = [es("ec", ec), rs("rsa", rsa), { kid: "mac", algorithm: "HS256" as const, secret: HMAC_SECRET }];
  const gw = await startWithKeys(t, keys, "rsa");

  const reply = await gw.request(JWKS);
  t.equal(reply.status, 200);
  expectOwnHeaders(t, reply);
  t.equal(reply.headers.get("cache-control"), "public, max-age=300");
  // Only the asymmetric public keys, as RFC 7517 JWKs; the HS256 secret is never published.
  t.same(reply.body, {
    keys: [
      { ...ec.publicKey.export({ format: "jwk" }), kid: "ec", alg: "ES256", use: "sig" },
      { ...rsa.publicKey.export({ format: "jwk" }), kid: "rsa", alg: "RS256", use: "sig" },
    ],
  });
  t.match(reply.body.keys, [
    { kty: "EC", crv: "P-256", x: String, y: String },
    { kty: "RSA", n: String, e: "AQAB" },
  ]);
  for (const key of reply.body.keys as Record<string, unknown>[]) {
    for (const part of ["d", "p", "q", "dp", "dq", "qi", "k"]) t.notOk(part in key, `${key.kid}: no private part "${part}"`);
  }
  t.notOk(JSON.stringify(reply.body).includes(b64(HMAC_SECRET)), "the HMAC secret is nowhere");

  // A token of each algorithm verifies with jsonwebtoken and the published JWK alone.
  const verifyWithJwks = (token: string) => {
    const { header } = decodeJwt(token);
    const jwk = (reply.body.keys as crypto.JsonWebKey[]).find((k) => k.kid === header.kid);
    if (!jwk) throw new Error(`no JWK for kid ${String(header.kid)}`);
    const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
    return jwt.verify(token, key, { algorithms: [jwk.alg as jwt.Algorithm], issuer: "matrix-auth-gateway", audience: "example.org" });
  };
  const rsaToken = (await gw.login()).access_token as string;
  t.same(decodeJwt(rsaToken).header, { alg: "RS256", typ: "at+jwt", kid: "rsa" });
  await expectAccepted(t, gw, rsaToken, "the RS256 token");
  t.match(verifyWithJwks(rsaToken), { sub: "@alice:example.org", iss: "matrix-auth-gateway", aud: "example.org" });

  reloadKeys(t, gw, keys, "ec");
  const ecToken = (await gw.login()).access_token as string;
  t.same(decodeJwt(ecToken).header, { alg: "ES256", typ: "at+jwt", kid: "ec" });
  await expectAccepted(t, gw, ecToken, "the ES256 token");
  await expectAccepted(t, gw, rsaToken, "the RS256 token after the switch");
  t.match(verifyWithJwks(ecToken), { sub: "@alice:example.org" });
  // The JWKS is not fooled either: a token re-signed by another key fails against it.
  const attacker = makeKey(dir, "attacker", EC_P256);
  const forged = forge(decodeJwt(ecToken).header, decodeJwt(ecToken).payload, es256(attacker.privateKey));
  t.throws(() => verifyWithJwks(forged), { name: "JsonWebTokenError", message: "invalid signature" });

  reloadKeys(t, gw, keys, "mac");
  const macToken = (await gw.login()).access_token as string;
  t.same(decodeJwt(macToken).header, { alg: "HS256", typ: "at+jwt", kid: "mac" });
  await expectAccepted(t, gw, macToken, "an HS256 key inside jwt.keys signs too");
});

t.test("with HS256 keys only the JWKS is empty", async (t) => {
  const shorthand = await startGateway(t);
  const reply = await shorthand.request(JWKS);
  t.equal(reply.status, 200);
  t.same(reply.body, { keys: [] });
  expectOwnHeaders(t, reply);
  t.notOk(JSON.stringify(reply.body).includes(b64("test-secret")), "no secret");
  const head = await fetch(shorthand.url + JWKS, { method: "HEAD" });
  t.equal(head.status, 200, "HEAD too");

  const listed = await startGateway(t, {
    jwtYaml: jwtYaml([{ kid: "mac", algorithm: "HS256", secret: HMAC_SECRET }]),
    storeYaml: STORE_YAML,
  });
  t.same((await listed.request(JWKS)).body, { keys: [] });
  // The JWKS needs no token, and is not a Matrix path a token could be swapped on.
  const login = await listed.login();
  t.same((await listed.request(JWKS, { headers: bearer(login.access_token) })).body, { keys: [] });
  const post = await listed.request(JWKS, { method: "POST" });
  expectError(t, post, 405, "M_UNRECOGNIZED");
});

t.test("key-set config errors name their path", async (t) => {
  const dir = keyDir(t);
  const good = makeKey(dir, "good", EC_P256);
  const rsaSmall = makeKey(dir, "rsa1024", RSA_1024);
  const rsaGood = makeKey(dir, "rsa2048", RSA_2048);
  const p384 = makeKey(dir, "p384", EC_P384);
  const file = path.join(dir, "gw.yaml");
  const storeLine = 'store: {type: memory, encryption_key: "store-key-that-is-at-least-32-bytes-long"}';

  /** A file whose jwt section is `lines` (indented under `jwt:` from line 3). */
  const text = (lines: string[], store = storeLine) =>
    ["server_name: example.org", store, "jwt:", ...lines.map((l) => `  ${l}`), ""].join("\n");
  const problems = (source: string): ConfigProblem[] => {
    try {
      parseConfig(source, file, { env: {} });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error("the file was accepted");
  };
  const key = (kid: string, algorithm: string, field: string, value: string) => [
    `- kid: ${kid}`,
    `  algorithm: ${algorithm}`,
    `  ${field}: "${value}"`,
  ];

  // The baseline: this file is valid; each case below breaks one thing.
  const valid = text(["keys:", ...key("good", "ES256", "private_key_file", good.privateFile)]);
  t.equal(parseConfig(valid, file, { env: {} }).jwt.signing_kid, "good");

  const cases: { name: string; lines: string[]; store?: string; want: ConfigProblem[] }[] = [
    {
      name: "an RS256 key of 1024 bits",
      lines: ["keys:", ...key("small", "RS256", "private_key_file", rsaSmall.privateFile)],
      want: [{ line: 5, col: 5, path: "jwt.keys.0", message: "RS256 needs an RSA key of at least 2048 bits" }],
    },
    {
      name: "an RS256 public key of 1024 bits (verify-only)",
      lines: [
        "keys:",
        ...key("good", "ES256", "private_key_file", good.privateFile),
        ...key("small", "RS256", "public_key_file", rsaSmall.publicFile),
      ],
      want: [{ line: 8, col: 5, path: "jwt.keys.1", message: "RS256 needs an RSA key of at least 2048 bits" }],
    },
    {
      name: "an EC key on P-384 declared ES256",
      lines: ["keys:", ...key("p384", "ES256", "private_key_file", p384.privateFile)],
      want: [
        {
          line: 5,
          col: 5,
          path: "jwt.keys.0",
          message: "ES256 needs an EC key on the P-256 curve (matrix-auth-gateway gen-keys makes one)",
        },
      ],
    },
    {
      name: "an RSA key declared ES256",
      lines: ["keys:", ...key("rsa", "ES256", "private_key_file", rsaGood.privateFile)],
      want: [
        {
          line: 5,
          col: 5,
          path: "jwt.keys.0",
          message: "ES256 needs an EC key on the P-256 curve (matrix-auth-gateway gen-keys makes one)",
        },
      ],
    },
    {
      name: "an EC key declared RS256",
      lines: ["keys:", ...key("ec", "RS256", "private_key_file", good.privateFile)],
      want: [{ line: 5, col: 5, path: "jwt.keys.0", message: "RS256 needs an RSA key of at least 2048 bits" }],
    },
    {
      name: "an HS256 key with a short secret",
      lines: ["keys:", ...key("mac", "HS256", "secret", "only-31-bytes-of-secret-here!!!")],
      want: [{ line: 7, col: 5, path: "jwt.keys.0.secret", message: "HS256 secret must be at least 32 bytes (got 31)" }],
    },
    {
      name: "an HS256 key with a PEM file",
      lines: ["keys:", ...key("mac", "HS256", "private_key_file", good.privateFile)],
      want: [{ line: 5, col: 5, path: "jwt.keys.0", message: "an HS256 key takes secret or secret_file, not PEM files" }],
    },
    {
      name: "an ES256 key with a secret",
      lines: ["keys:", ...key("ec", "ES256", "secret", HMAC_SECRET)],
      want: [{ line: 5, col: 5, path: "jwt.keys.0", message: "an ES256 key takes private_key_file and/or public_key_file, not a secret" }],
    },
    {
      name: "a missing key file",
      lines: ["keys:", ...key("ec", "ES256", "private_key_file", path.join(dir, "nope.key"))],
      want: [
        {
          line: 7,
          col: 5,
          path: "jwt.keys.0.private_key_file",
          message: `cannot read a PEM key: ENOENT: no such file or directory, open '${path.join(dir, "nope.key")}'`,
        },
      ],
    },
    {
      name: "a duplicate kid",
      lines: [
        "keys:",
        ...key("same", "ES256", "private_key_file", good.privateFile),
        ...key("same", "RS256", "private_key_file", rsaGood.privateFile),
      ],
      want: [{ line: 8, col: 5, path: "jwt.keys.1.kid", message: 'duplicate kid "same"' }],
    },
    {
      name: "signing_key naming a missing kid",
      lines: ["keys:", ...key("good", "ES256", "private_key_file", good.privateFile), "signing_key: gone"],
      want: [{ line: 8, col: 3, path: "jwt.signing_key", message: 'no key has kid "gone"' }],
    },
    {
      name: "signing_key naming a verify-only key",
      lines: [
        "keys:",
        ...key("good", "ES256", "private_key_file", good.privateFile),
        ...key("peer", "ES256", "public_key_file", good.publicFile),
        "signing_key: peer",
      ],
      want: [{ line: 11, col: 3, path: "jwt.signing_key", message: 'key "peer" cannot sign: give it private_key_file' }],
    },
    {
      name: "the first key verify-only and no signing_key",
      lines: ["keys:", ...key("peer", "ES256", "public_key_file", good.publicFile)],
      want: [{ line: 3, col: 1, path: "jwt.signing_key", message: 'key "peer" cannot sign: give it private_key_file' }],
    },
    {
      name: "an empty key list",
      lines: ["keys: []"],
      want: [{ line: 4, col: 3, path: "jwt.keys", message: "list at least one key" }],
    },
    {
      name: "a kid with a path in it",
      lines: ["keys:", ...key("../../dev/null", "ES256", "private_key_file", good.privateFile)],
      want: [{ line: 5, col: 5, path: "jwt.keys.0.kid", message: "a kid is 1-64 characters of A-Z a-z 0-9 . _ -" }],
    },
    {
      name: "keys together with secret",
      lines: [`secret: ${HMAC_SECRET}`, "keys:", ...key("good", "ES256", "private_key_file", good.privateFile)],
      want: [{ line: 3, col: 1, path: "jwt", message: "set exactly one of jwt.secret, jwt.secret_file and jwt.keys" }],
    },
    {
      name: "jwt.keys with a sqlite store and no store.encryption_key",
      lines: ["keys:", ...key("good", "ES256", "private_key_file", good.privateFile)],
      store: `store: {type: sqlite, path: "${path.join(dir, "gw.sqlite")}"}`,
      want: [
        {
          line: 2,
          col: 1,
          path: "store.encryption_key",
          message: "set store.encryption_key or store.encryption_key_file when jwt.keys is used",
        },
      ],
    },
  ];
  for (const c of cases) t.same(problems(text(c.lines, c.store)), c.want, c.name);

  // Printed as FILE:LINE:COL: dotted.path: message, like every other problem.
  try {
    parseConfig(text(["keys:", ...key("small", "RS256", "private_key_file", rsaSmall.privateFile)]), file, { env: {} });
    t.fail("accepted");
  } catch (error) {
    t.equal((error as Error).message, `${file}:5:5: jwt.keys.0: RS256 needs an RSA key of at least 2048 bits`);
  }
});
