/**
 * createAccessTokens: what it issues and, above all, what it refuses (security.md, "JWT").
 * Hostile tokens are built by hand (base64url(header).base64url(payload).HMAC) so that no library
 * helps them look valid; `forge()` with honest inputs is first shown to produce an accepted token,
 * so every rejection below is caused by the one thing each case changes.
 */
import crypto from "node:crypto";
import jwt from "jsonwebtoken";
import t from "tap";
import { type AccessTokens, createAccessTokens, hmacKey, MAX_TOKEN_LENGTH } from "../../src/auth/access-token.js";
import { issueRefreshToken, newFamily } from "../../src/auth/refresh-token.js";
import { ManualClock } from "../../src/clock.js";
import { MatrixError } from "../../src/http/errors.js";

const SECRET = Buffer.from("unit-test-secret-that-is-at-least-32-bytes!", "utf8");
const ATTACKER_SECRET = Buffer.from("attacker-secret-that-is-also-32-bytes-long", "utf8");
const ISSUER = "matrix-auth-gateway";
const AUDIENCE = "example.org";
const SKEW_MS = 5000;
const SKEW_S = SKEW_MS / 1000;
/** A whole second, so `floor(now / 1000)` is exact. */
const START = Date.UTC(2026, 0, 1);

const INVALID = { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false };
const EXPIRED = { errcode: "M_UNKNOWN_TOKEN", error: "Access token has expired", soft_logout: true };

function setup(secret = SECRET, verifiedCacheSize = 10_000) {
  const clock = new ManualClock(START);
  const tokens = createAccessTokens({
    keys: [hmacKey("default", secret)],
    signingKid: "default",
    issuer: ISSUER,
    audience: AUDIENCE,
    clockSkewMs: SKEW_MS,
    verifiedCacheSize,
    clock,
    random: (n) => crypto.randomBytes(n),
  });
  return { clock, tokens };
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString("base64url");
const nowS = (clock: ManualClock) => Math.floor(clock.now() / 1000);

/** Honest header and claims, valid for a minute from the clock's now. */
function goodHeader(): Record<string, unknown> {
  return { alg: "HS256", typ: "at+jwt" };
}
function goodClaims(clock: ManualClock): Record<string, unknown> {
  const now = nowS(clock);
  return { sub: "@alice:example.org", sid: "session-1", jti: "jti-1", iat: now, exp: now + 60, iss: ISSUER, aud: AUDIENCE };
}

/** header.payload signed with HMAC (`sha256` for HS256); `header`/`payload` may be raw strings. */
function forge(header: unknown, payload: unknown, key: Buffer = SECRET, hash = "sha256"): string {
  const h = b64(typeof header === "string" ? header : JSON.stringify(header));
  const p = b64(typeof payload === "string" ? payload : JSON.stringify(payload));
  const signature = crypto.createHmac(hash, key).update(`${h}.${p}`).digest("base64url");
  return `${h}.${p}.${signature}`;
}

/** The MatrixError body `verify` throws, or `"accepted"` when it does not throw. */
function outcome(tokens: AccessTokens, token: string, options?: { allowExpired?: boolean }): unknown {
  try {
    tokens.verify(token, options);
    return "accepted";
  } catch (error) {
    if (!(error instanceof MatrixError)) return `not a MatrixError: ${String(error)}`;
    return { status: error.status, ...error.body() };
  }
}

const rejected = { status: 401, ...INVALID };
const expired = { status: 401, ...EXPIRED };

/** Flips one bit of the decoded bytes of segment `index` (0 header, 1 payload, 2 signature). */
function flipBit(token: string, index: number, byte: "first" | "middle" | "last", bit: number): string {
  const parts = token.split(".");
  const bytes = Buffer.from(parts[index] as string, "base64url");
  const at = byte === "first" ? 0 : byte === "middle" ? Math.floor(bytes.length / 2) : bytes.length - 1;
  bytes[at] = (bytes[at] as number) ^ (1 << bit);
  parts[index] = bytes.toString("base64url");
  return parts.join(".");
}

t.test("an issued token verifies and carries the RFC 9068 header", async (t) => {
  const { clock, tokens } = setup();
  const expiresAt = clock.now() + 300_000;
  const token = tokens.issue("@alice:example.org", "sid-123", expiresAt);

  const [header, payload] = token
    .split(".")
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")));
  t.same(header, { alg: "HS256", typ: "at+jwt", kid: "default" });
  t.match(payload, {
    sub: "@alice:example.org",
    sid: "sid-123",
    iss: ISSUER,
    aud: AUDIENCE,
    iat: nowS(clock),
    exp: expiresAt / 1000,
    jti: String,
  });

  const claims = tokens.verify(token);
  t.same(claims, { sub: "@alice:example.org", sid: "sid-123", jti: payload.jti, iat: nowS(clock), exp: expiresAt / 1000 });

  const other = tokens.issue("@alice:example.org", "sid-123", expiresAt);
  t.not(other, token, "every token has its own jti");
});

t.test("forge() with honest inputs is accepted (the baseline for every hostile case)", async (t) => {
  const { clock, tokens } = setup();
  t.equal(outcome(tokens, forge(goodHeader(), goodClaims(clock))), "accepted");
});

t.test("expiry is exact to the millisecond: the clock skew never extends it", async (t) => {
  const { clock, tokens } = setup();
  clock.advance(123); // not on a whole second: exp carries the milliseconds
  const expiresAt = clock.now() + 60_000;
  const token = tokens.issue("@alice:example.org", "sid", expiresAt);

  clock.advance(60_000 - 1);
  t.equal(outcome(tokens, token), "accepted", "1 ms before the advertised expiry");
  clock.advance(1);
  t.same(outcome(tokens, token), expired, "at the advertised expiry: expired, soft logout (no skew on exp)");
  clock.advance(SKEW_MS);
  t.same(outcome(tokens, token), expired, "past expiry + skew");
  clock.advance(3_600_000);
  t.same(outcome(tokens, token), expired, "long after");

  // The MatrixError itself: 401, M_UNKNOWN_TOKEN, soft_logout true (Synapse's answer).
  try {
    tokens.verify(token);
    t.fail("expired token accepted");
  } catch (error) {
    t.ok(error instanceof MatrixError);
    t.match(error, { status: 401, errcode: "M_UNKNOWN_TOKEN", extra: { soft_logout: true } });
  }

  // Logout may read an expired token, but only a genuine one.
  t.equal(outcome(tokens, token, { allowExpired: true }), "accepted", "allowExpired accepts a genuine expired token");
  t.same(outcome(tokens, flipBit(token, 2, "first", 0), { allowExpired: true }), rejected, "allowExpired still checks the signature");
});

t.test("hostile tokens are refused with 401 M_UNKNOWN_TOKEN, soft_logout false", async (t) => {
  const { clock, tokens } = setup();
  const now = nowS(clock);
  const claims = goodClaims(clock);
  const genuine = tokens.issue("@alice:example.org", "sid", clock.now() + 60_000);
  const [gh, gp, gs] = genuine.split(".") as [string, string, string];
  const { publicKey: rsaPublic, privateKey: rsaPrivate } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const rsaJwk = rsaPublic.export({ format: "jwk" });

  const without = (key: string) => {
    const copy = { ...claims };
    delete copy[key];
    return copy;
  };
  const rsaSigned = (header: unknown) => {
    const h = b64(JSON.stringify(header));
    const p = b64(JSON.stringify(claims));
    return `${h}.${p}.${crypto.sign("sha256", Buffer.from(`${h}.${p}`), rsaPrivate).toString("base64url")}`;
  };
  const unsigned = (alg: string) => `${b64(JSON.stringify({ alg, typ: "at+jwt" }))}.${b64(JSON.stringify(claims))}`;

  const cases: [string, string][] = [
    // alg: none, in every spelling, with and without the trailing dot, and with a real HS256 signature attached
    ...["none", "None", "NONE", "nOnE"].flatMap((alg): [string, string][] => [
      [`alg ${alg}, trailing dot`, `${unsigned(alg)}.`],
      [`alg ${alg}, no trailing dot`, unsigned(alg)],
      [`alg ${alg}, HMAC signature attached`, forge({ alg, typ: "at+jwt" }, claims)],
    ]),
    ["empty signature", `${gh}.${gp}.`],
    ["signature removed entirely", `${gh}.${gp}`],
    ["signature of another token", `${gh}.${b64(JSON.stringify({ ...claims, sub: "@mallory:example.org" }))}.${gs}`],
    ["signed with another key", forge(goodHeader(), claims, ATTACKER_SECRET)],
    ["signed with an empty key", forge(goodHeader(), claims, Buffer.alloc(0))],
    ["issued by a gateway with another secret", setup(ATTACKER_SECRET).tokens.issue("@alice:example.org", "sid", clock.now() + 60_000)],
    // one flipped bit anywhere
    ...[0, 1, 2].flatMap((segment): [string, string][] =>
      (["first", "middle", "last"] as const).flatMap((byte): [string, string][] =>
        [0, 7].map((bit): [string, string] => [
          `bit ${bit} of the ${byte} byte of ${["header", "payload", "signature"][segment]} flipped`,
          flipBit(genuine, segment, byte, bit),
        ]),
      ),
    ),
    // algorithm confusion
    ["HS384 with the same secret", forge({ alg: "HS384", typ: "at+jwt" }, claims, SECRET, "sha384")],
    ["HS512 with the same secret", forge({ alg: "HS512", typ: "at+jwt" }, claims, SECRET, "sha512")],
    ["RS256 header, HMAC-SHA256 signature with the secret", forge({ alg: "RS256", typ: "at+jwt" }, claims)],
    ["ES256 header, HMAC-SHA256 signature with the secret", forge({ alg: "ES256", typ: "at+jwt" }, claims)],
    ["lower-case hs256", forge({ alg: "hs256", typ: "at+jwt" }, claims)],
    ["no alg at all", forge({ typ: "at+jwt" }, claims)],
    // key-carrying headers are ignored: the attacker's key never becomes the verification key
    ["RS256 signed by an attacker key, embedded jwk", rsaSigned({ alg: "RS256", typ: "at+jwt", jwk: rsaJwk })],
    [
      "HS256 signed by an attacker key, embedded oct jwk",
      forge({ ...goodHeader(), jwk: { kty: "oct", k: ATTACKER_SECRET.toString("base64url") } }, claims, ATTACKER_SECRET),
    ],
    ["jku to an attacker's key set", forge({ ...goodHeader(), jku: "https://evil.example/jwks.json" }, claims, ATTACKER_SECRET)],
    ["x5u to an attacker's certificate", forge({ ...goodHeader(), x5u: "https://evil.example/cert.pem" }, claims, ATTACKER_SECRET)],
    ["kid ../../dev/null, signed with an empty key", forge({ ...goodHeader(), kid: "../../dev/null" }, claims, Buffer.alloc(0))],
    ["kid ../../dev/null, signed with an attacker key", forge({ ...goodHeader(), kid: "../../dev/null" }, claims, ATTACKER_SECRET)],
    // RFC 7515 §4.1.11: a critical extension nobody here understands
    ["crit header naming an extension", forge({ ...goodHeader(), crit: ["exp"] }, claims)],
    ["crit header, empty list", forge({ ...goodHeader(), crit: [] }, claims)],
    // claims
    ["nbf not a number", forge(goodHeader(), { ...claims, nbf: "soon" })],
    ["missing exp (forged by hand)", forge(goodHeader(), without("exp"))],
    ["exp not a number", forge(goodHeader(), { ...claims, exp: String(now + 60) })],
    ["missing iat", forge(goodHeader(), without("iat"))],
    ["missing sub", forge(goodHeader(), without("sub"))],
    ["missing sid", forge(goodHeader(), without("sid"))],
    ["missing jti", forge(goodHeader(), without("jti"))],
    ["sub not a string", forge(goodHeader(), { ...claims, sub: 42 })],
    ["nbf in the future beyond the skew", forge(goodHeader(), { ...claims, nbf: now + SKEW_S + 1 })],
    ["iat in the future beyond the skew", forge(goodHeader(), { ...claims, iat: now + SKEW_S + 1 })],
    ["wrong iss", forge(goodHeader(), { ...claims, iss: "someone-else" })],
    ["missing iss", forge(goodHeader(), without("iss"))],
    ["wrong aud", forge(goodHeader(), { ...claims, aud: "evil.org" })],
    ["missing aud", forge(goodHeader(), without("aud"))],
    ["missing typ", forge({ alg: "HS256" }, claims)],
    ["typ JWT", forge({ alg: "HS256", typ: "JWT" }, claims)],
    ["typ refresh", forge({ alg: "HS256", typ: "refresh" }, claims)],
    // shape
    ["payload not JSON", forge(goodHeader(), "hello")],
    ["payload a JSON array", forge(goodHeader(), "[1,2]")],
    ["payload a JSON number", forge(goodHeader(), "123")],
    ["payload JSON null", forge(goodHeader(), "null")],
    ["header not JSON", forge("not json", claims)],
    ["header a JSON array", forge("[]", claims)],
    ["'=' padding appended", `${genuine}=`],
    ["'=' padding inside the payload segment", `${gh}.${gp}=.${gs}`],
    ["signature in standard base64 with padding", `${gh}.${gp}.${Buffer.from(gs, "base64url").toString("base64")}`],
    ["'+' in the signature", `${gh}.${gp}.+${gs.slice(1)}`],
    ["'/' in the signature", `${gh}.${gp}./${gs.slice(1)}`],
    ["'+' in the header", `+${gh.slice(1)}.${gp}.${gs}`],
    ["leading space", ` ${genuine}`],
    ["trailing newline", `${genuine}\n`],
    ["four segments", `${genuine}.${gs}`],
    ["JWE shape (five segments)", `${gh}.${gp}.${gs}.${gs}.${gs}`],
    ["empty string", ""],
    ["a refresh token (magr_…) is not an access token", issueRefreshToken(newFamily(crypto.randomBytes), crypto.randomBytes).token],
    ["an opaque homeserver token", "syt_YWxpY2U_abcdefghijklmnop_123456"],
  ];

  for (const [name, token] of cases) t.same(outcome(tokens, token), rejected, name);
});

t.test("clock skew boundaries of iat and nbf (RFC 8725: tolerance set on purpose)", async (t) => {
  const { clock, tokens } = setup();
  const claims = goodClaims(clock);
  const now = nowS(clock);
  const table: [string, Record<string, unknown>, "accepted" | typeof rejected][] = [
    ["iat just inside the skew", { ...claims, iat: now + SKEW_S }, "accepted"],
    ["iat just outside the skew", { ...claims, iat: now + SKEW_S + 1 }, rejected],
    ["nbf just inside the skew", { ...claims, nbf: now + SKEW_S }, "accepted"],
    ["nbf just outside the skew", { ...claims, nbf: now + SKEW_S + 1 }, rejected],
    ["nbf in the past", { ...claims, nbf: now - 10 }, "accepted"],
    ["exp a second ahead", { ...claims, iat: now - 120, exp: now + 1 }, "accepted"],
  ];
  for (const [name, payload, expected] of table) t.same(outcome(tokens, forge(goodHeader(), payload)), expected, name);
  t.same(outcome(tokens, forge(goodHeader(), { ...claims, iat: now - 120, exp: now })), expired, "exp now: expired (no skew on exp)");
  t.same(
    outcome(tokens, forge(goodHeader(), { ...claims, iat: now - 120, exp: now - SKEW_S + 1 })),
    expired,
    "exp within what the skew once allowed",
  );
});

t.test("missing exp, signed by jsonwebtoken itself with the real secret, is refused", async (t) => {
  const { clock, tokens } = setup();
  const payload = { sub: "@alice:example.org", sid: "sid", jti: "j", iat: nowS(clock) };
  const token = jwt.sign(payload, SECRET, {
    algorithm: "HS256",
    issuer: ISSUER,
    audience: AUDIENCE,
    header: { alg: "HS256", typ: "at+jwt" },
  });
  t.same(outcome(tokens, token), rejected);
  // The same call with exp is accepted: the missing claim is what is refused.
  const withExp = jwt.sign({ ...payload, exp: nowS(clock) + 60 }, SECRET, {
    algorithm: "HS256",
    issuer: ISSUER,
    audience: AUDIENCE,
    header: { alg: "HS256", typ: "at+jwt" },
  });
  t.equal(outcome(tokens, withExp), "accepted");
});

t.test("oversized tokens are refused unread (> 8 KiB), even when genuinely signed", async (t) => {
  const { clock, tokens } = setup();
  const padded = (n: number) => forge(goodHeader(), { ...goodClaims(clock), pad: "x".repeat(n) });
  let largestFitting: string | undefined;
  let smallestTooLarge: string | undefined;
  for (let n = 5000; !smallestTooLarge; n++) {
    const token = padded(n);
    if (token.length <= MAX_TOKEN_LENGTH) largestFitting = token;
    else smallestTooLarge = token;
  }
  t.equal(MAX_TOKEN_LENGTH, 8192);
  t.ok(largestFitting && largestFitting.length >= MAX_TOKEN_LENGTH - 3, "a token right at the limit");
  t.equal(outcome(tokens, largestFitting as string), "accepted", `${largestFitting?.length} chars: accepted`);
  t.same(outcome(tokens, smallestTooLarge), rejected, `${smallestTooLarge.length} chars: refused`);
  t.same(outcome(tokens, padded(100_000)), rejected, "100 KB: refused");
});

t.test("jwt.verified_cache_size: remembered tokens skip the signature check; 0 checks it every time", async (t) => {
  for (const size of [0, 2, 10_000]) {
    const { clock, tokens } = setup(SECRET, size);
    const issued = [1, 2, 3].map((n) => tokens.issue("@alice:example.org", `sid-${n}`, clock.now() + 60_000));
    for (const token of issued) tokens.verify(token);
    // jsonwebtoken is asked again only for tokens not remembered: count its calls through a spy.
    const original = jwt.verify;
    let calls = 0;
    (jwt as { verify: typeof jwt.verify }).verify = ((...args: Parameters<typeof jwt.verify>) => {
      calls++;
      return original(...args);
    }) as typeof jwt.verify;
    try {
      for (const token of [...issued].reverse()) tokens.verify(token);
    } finally {
      (jwt as { verify: typeof jwt.verify }).verify = original;
    }
    // Newest first: size 2 remembers the last two of three (the oldest was forgotten); 0 none; 10000 all.
    t.equal(calls, size === 0 ? 3 : size === 2 ? 1 : 0, `verified_cache_size ${size}: ${calls} signature checks`);
    clock.advance(60_000);
    t.same(outcome(tokens, issued[2] as string), expired, `verified_cache_size ${size}: expiry is still checked`);
  }
});
