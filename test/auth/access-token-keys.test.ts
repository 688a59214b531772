/**
 * createAccessTokens' key lookup (RFC 8725 §2.1, §3.1; RFC 7515 §4.1.11): the header rules, with one key and
 * with several, and that every refusal of the header comes before any signature is computed (the lookup
 * runs inside jsonwebtoken's verification, after it parsed the header and before the signature check).
 * Crypto calls are counted through the `node:crypto` functions jsonwebtoken's HMAC and ECDSA checks use.
 */
import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import t from "tap";
import { type AccessTokens, createAccessTokens, hmacKey, MAX_TOKEN_LENGTH } from "../../src/auth/access-token.js";
import { ManualClock } from "../../src/clock.js";
import type { JwtKey } from "../../src/config/jwt-keys.js";
import { MatrixError } from "../../src/http/errors.js";

const SECRET = Buffer.from("unit-test-secret-that-is-at-least-32-bytes!", "utf8");
const ISSUER = "matrix-auth-gateway";
const AUDIENCE = "example.org";
const START = Date.UTC(2026, 0, 1);
const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
const ecKey: JwtKey = { kid: "ec", algorithm: "ES256", signingKey: ec.privateKey, verificationKey: ec.publicKey };

const rejected = { status: 401, errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false };
const expired = { status: 401, errcode: "M_UNKNOWN_TOKEN", error: "Access token has expired", soft_logout: true };

function setup(keys: JwtKey[], signingKid: string) {
  const clock = new ManualClock(START);
  const tokens = createAccessTokens({
    keys,
    signingKid,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockSkewMs: 5000,
    verifiedCacheSize: 0,
    clock,
    random: (n) => crypto.randomBytes(n),
  });
  return { clock, tokens };
}

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const claims = () => {
  const now = START / 1000;
  return { sub: "@alice:example.org", sid: "s1", jti: "j1", iat: now, exp: now + 60, iss: ISSUER, aud: AUDIENCE };
};
/** A token with this header (object or raw text), signed with HMAC-SHA256 of SECRET or ES256 of the EC key. */
function forge(header: unknown, sign: "hmac" | "ec" = "hmac", payload: unknown = claims()): string {
  const input = `${b64(typeof header === "string" ? header : JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const signature =
    sign === "hmac"
      ? crypto.createHmac("sha256", SECRET).update(input).digest()
      : crypto.sign("sha256", Buffer.from(input), { key: ec.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}

/** The outcome of verifying `token`, with how many times jsonwebtoken and a signature primitive were called. */
function verifyCounting(tokens: AccessTokens, token: string, options?: { allowExpired?: boolean }) {
  const mutable = crypto as unknown as Record<string, (...args: unknown[]) => unknown>;
  const spied = ["createHmac", "createVerify", "verify"];
  const originals = spied.map((name) => mutable[name]);
  const jwtVerify = jwt.verify;
  let signatures = 0;
  let verifies = 0;
  spied.forEach((name, i) => {
    const original = originals[i] as (...args: unknown[]) => unknown;
    mutable[name] = (...args: unknown[]) => {
      signatures++;
      return original(...args);
    };
  });
  (jwt as { verify: unknown }).verify = (...args: Parameters<typeof jwt.verify>) => {
    verifies++;
    return jwtVerify(...args);
  };
  let result: unknown;
  try {
    tokens.verify(token, options);
    result = "accepted";
  } catch (error) {
    result = error instanceof MatrixError ? { status: error.status, ...error.body() } : `not a MatrixError: ${String(error)}`;
  } finally {
    spied.forEach((name, i) => {
      mutable[name] = originals[i] as (...args: unknown[]) => unknown;
    });
    (jwt as { verify: unknown }).verify = jwtVerify;
  }
  return { result, signatures, verifies };
}

const header = (extra: Record<string, unknown>) => ({ alg: "HS256", typ: "at+jwt", ...extra });

t.test("one key: a token with or without its kid is accepted; header refusals come before any signature check", async (t) => {
  const { tokens, clock } = setup([hmacKey("default", SECRET)], "default");
  const accepted: [string, string][] = [
    ["issued by the gateway", tokens.issue("@alice:example.org", "s1", clock.now() + 60_000)],
    ["no kid (one key: it can only mean that key)", forge(header({}))],
    ["kid of the key", forge(header({ kid: "default" }))],
  ];
  for (const [name, token] of accepted) {
    const seen = verifyCounting(tokens, token);
    t.same(seen.result, "accepted", name);
    t.ok(seen.signatures >= 1, `${name}: the signature was checked (${seen.signatures} crypto calls)`);
  }
  const refusedUnsigned: [string, string][] = [
    ["crit naming an extension", forge(header({ crit: ["exp"] }))],
    ["crit, empty list", forge(header({ crit: [] }))],
    ["an unknown kid", forge(header({ kid: "other" }))],
    ["a kid that is not a string", forge(header({ kid: 42 }))],
    ["HS384 with the key's kid", forge(header({ alg: "HS384", kid: "default" }))],
    ["ES256 header on the HS256 key", forge(header({ alg: "ES256" }), "ec")],
    ["header not JSON", forge("not json")],
    ["header a JSON array", forge("[]")],
    ["header a JSON string", forge('"HS256"')],
    ["header JSON null", forge("null")],
    ["two segments", forge(header({})).split(".").slice(0, 2).join(".")],
  ];
  for (const [name, token] of refusedUnsigned) {
    const seen = verifyCounting(tokens, token);
    t.same(seen.result, rejected, name);
    t.equal(seen.signatures, 0, `${name}: refused before any signature check`);
  }
});

t.test("several keys: the kid picks the key and pins its algorithm; no kid is refused", async (t) => {
  const { tokens, clock } = setup([hmacKey("mac", SECRET), ecKey], "ec");
  const accepted: [string, string][] = [
    ["issued by the gateway (ec)", tokens.issue("@alice:example.org", "s1", clock.now() + 60_000)],
    ["HS256 with kid mac", forge(header({ kid: "mac" }))],
    ["ES256 with kid ec", forge(header({ alg: "ES256", kid: "ec" }), "ec")],
  ];
  for (const [name, token] of accepted) t.same(verifyCounting(tokens, token).result, "accepted", name);
  const ecPublicPem = ec.publicKey.export({ format: "pem", type: "spki" }).toString();
  const refusedUnsigned: [string, string][] = [
    ["no kid", forge(header({}))],
    ["an unknown kid", forge(header({ kid: "default" }))],
    ["crit with a known kid", forge(header({ kid: "mac", crit: ["exp"] }))],
    ["kid mac, alg ES256 signed by the EC key", forge(header({ alg: "ES256", kid: "mac" }), "ec")],
    ["kid ec, alg HS256", forge(header({ kid: "ec" }))],
    ["header not JSON", forge("{not json")],
  ];
  for (const [name, token] of refusedUnsigned) {
    const seen = verifyCounting(tokens, token);
    t.same(seen.result, rejected, name);
    t.equal(seen.signatures, 0, `${name}: refused before any signature check`);
  }
  // Algorithm confusion: an HMAC over the token keyed with the EC public key's PEM, under kid ec.
  const input = `${b64(JSON.stringify(header({ kid: "ec" })))}.${b64(JSON.stringify(claims()))}`;
  const confused = `${input}.${crypto.createHmac("sha256", ecPublicPem).update(input).digest("base64url")}`;
  t.same(verifyCounting(tokens, confused), { result: rejected, signatures: 0, verifies: 1 }, "HS256 keyed with the public key");
});

t.test("a token longer than 8 KiB is refused without being parsed, with one key and with several", async (t) => {
  for (const keys of [[hmacKey("default", SECRET)], [hmacKey("default", SECRET), ecKey]]) {
    const { tokens } = setup(keys, "default");
    const padded = (n: number) => forge(header({ kid: "default" }), "hmac", { ...claims(), pad: "x".repeat(n) });
    let fitting = padded(5000);
    for (let n = 5000; padded(n + 1).length <= MAX_TOKEN_LENGTH; n++) fitting = padded(n + 1);
    const tooLong = padded(6500);
    t.ok(tooLong.length > MAX_TOKEN_LENGTH, "the long token is past the limit");
    t.same(verifyCounting(tokens, fitting).result, "accepted", `${keys.length} key(s): ${fitting.length} characters accepted`);
    t.same(verifyCounting(tokens, tooLong), { result: rejected, signatures: 0, verifies: 0 }, `${keys.length} key(s): refused unread`);
  }
});

t.test("verifying for logout (expired allowed) and for a request alternate without leaking into each other", async (t) => {
  const { tokens, clock } = setup([hmacKey("default", SECRET)], "default");
  const token = tokens.issue("@alice:example.org", "s1", clock.now() + 60_000);
  clock.advance(60_000);
  for (let round = 0; round < 3; round++) {
    t.same(verifyCounting(tokens, token).result, expired, `round ${round}: expired for a request`);
    t.same(verifyCounting(tokens, token, { allowExpired: true }).result, "accepted", `round ${round}: accepted for logout`);
  }
  t.same(verifyCounting(tokens, token).result, expired, "still expired for a request afterwards");
  // The clock reading is per call: a token valid at one call is expired at the next once the clock passed it.
  const fresh = tokens.issue("@alice:example.org", "s1", clock.now() + 1_000);
  t.same(verifyCounting(tokens, fresh).result, "accepted", "valid now");
  clock.advance(1_000);
  t.same(verifyCounting(tokens, fresh).result, expired, "expired a second later");
});
