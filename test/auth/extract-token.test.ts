/**
 * extractToken: where the access token is read from (contract, "Every other request" 1 and 4) and
 * what URL is forwarded. The token must leave the query string; everything else stays byte for byte.
 */
import t from "tap";
import { extractToken } from "../../src/auth/extract-token.js";
import { MatrixError } from "../../src/http/errors.js";

/** node:http's view of the given raw header list: `headers` keeps the first Authorization, as Node does. */
function call(url: string, raw: string[] = []): unknown {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    headers[name] ??= raw[i + 1] as string;
  }
  try {
    return extractToken(url, headers, raw);
  } catch (error) {
    if (!(error instanceof MatrixError)) throw error;
    return { status: error.status, ...error.body() };
  }
}

const missing = (error: string) => ({ status: 401, errcode: "M_MISSING_TOKEN", error });
const MIXING = missing("Mixing Authorization headers and access_token query parameters.");
const TWO_HEADERS = missing("Multiple Authorization headers.");
const TWO_PARAMS = missing("Multiple access_token query parameters.");
const BAD_HEADER = missing("Invalid Authorization header.");

const P = "/_matrix/client/v3/rooms/%21abc%3Aexample.org/messages";
const auth = (value: string) => ["Authorization", value];

const cases: [string, string, string[], unknown][] = [
  ["no token", P, [], { token: undefined, forwardUrl: P }],
  ["no token, query kept as is", `${P}?dir=b&limit=10`, [], { token: undefined, forwardUrl: `${P}?dir=b&limit=10` }],
  ["header only", P, auth("Bearer abc.def.ghi"), { token: "abc.def.ghi", forwardUrl: P }],
  ["header only, query untouched", `${P}?dir=b`, auth("Bearer tok"), { token: "tok", forwardUrl: `${P}?dir=b` }],
  ["scheme is case-insensitive (RFC 9110 §11.1)", P, auth("bearer tok"), { token: "tok", forwardUrl: P }],
  ["scheme in capitals", P, auth("BEARER tok"), { token: "tok", forwardUrl: P }],
  ["scheme in mixed case", P, auth("BeArEr tok"), { token: "tok", forwardUrl: P }],
  ["spaces before and after the token", P, auth("Bearer   tok  "), { token: "tok", forwardUrl: P }],
  ["query only", `${P}?access_token=tok`, [], { token: "tok", forwardUrl: P }],
  [
    "query only, other params kept in order, encoded ones unchanged",
    `${P}?dir=b&access_token=tok&limit=10&filter=%7B%22a%22%3A1%7D&q=a+b&flag`,
    [],
    { token: "tok", forwardUrl: `${P}?dir=b&limit=10&filter=%7B%22a%22%3A1%7D&q=a+b&flag` },
  ],
  ["token first", `${P}?access_token=tok&dir=b`, [], { token: "tok", forwardUrl: `${P}?dir=b` }],
  ["token last", `${P}?dir=b&access_token=tok`, [], { token: "tok", forwardUrl: `${P}?dir=b` }],
  [
    "encoded name access%5Ftoken is recognised and stripped",
    `${P}?dir=b&access%5Ftoken=tok`,
    [],
    { token: "tok", forwardUrl: `${P}?dir=b` },
  ],
  ["encoded name, lower-case hex", `${P}?access%5ftoken=tok&x=1`, [], { token: "tok", forwardUrl: `${P}?x=1` }],
  ["fully encoded name", `${P}?%61ccess_token=tok`, [], { token: "tok", forwardUrl: P }],
  ["percent-encoded value is decoded", `${P}?access_token=a%2Eb`, [], { token: "a.b", forwardUrl: P }],
  ["empty value: no token, still stripped", `${P}?access_token=&x=1`, [], { token: undefined, forwardUrl: `${P}?x=1` }],
  ["name only: no token, still stripped", `${P}?access_token`, [], { token: undefined, forwardUrl: P }],
  [
    "look-alike names are other params",
    `${P}?xaccess_token=1&access_token_x=2`,
    [],
    { token: undefined, forwardUrl: `${P}?xaccess_token=1&access_token_x=2` },
  ],
  ["header and query", `${P}?access_token=tok`, auth("Bearer tok"), MIXING],
  ["header and encoded-name query", `${P}?access%5Ftoken=tok`, auth("Bearer other"), MIXING],
  ["two Authorization headers", P, [...auth("Bearer one"), ...auth("Bearer two")], TWO_HEADERS],
  ["two Authorization headers, differently cased names", P, ["authorization", "Bearer one", "AUTHORIZATION", "Bearer one"], TWO_HEADERS],
  ["two access_token params", `${P}?access_token=one&access_token=two`, [], TWO_PARAMS],
  ["two access_token params, one encoded", `${P}?access_token=one&access%5Ftoken=one`, [], TWO_PARAMS],
  ["Basic auth", P, auth(`Basic ${Buffer.from("alice:wonderland").toString("base64")}`), BAD_HEADER],
  ["X-Matrix (federation) auth on a client path", P, auth('X-Matrix origin="other.org",key="ed25519:a",sig="s"'), BAD_HEADER],
  ["Bearer without a token", P, auth("Bearer"), BAD_HEADER],
  ["Bearer with two tokens", P, auth("Bearer one two"), BAD_HEADER],
  ["bare token without a scheme", P, auth("tok"), BAD_HEADER],
  ["a scheme one letter off Bearer", P, auth("Bearex tok"), BAD_HEADER],
  ["a scheme that only starts with Bearer", P, auth("Bearerx tok"), BAD_HEADER],
  ["a tab inside the token", P, auth("Bearer to\tk"), BAD_HEADER],
  ["a no-break space inside the token", P, auth("Bearer to\u00a0k"), BAD_HEADER],
  ["a tab after the token", P, auth("Bearer tok\t"), BAD_HEADER],
  ["a tab for the space after the scheme", P, auth("Bearer\ttok"), BAD_HEADER],
];

t.test("extractToken table", async (t) => {
  for (const [name, url, raw, expected] of cases) t.same(call(url, raw), expected, name);
});

t.test("the Authorization value is read exactly as `^Bearer +([^\\s]+) *$` (case-insensitive) reads it", async (t) => {
  const { default: fc } = await import("fast-check");
  const REFERENCE = /^Bearer +([^\s]+) *$/i;
  const piece = fc.constantFrom("Bearer", "bearer", "BEARER", "Basic", " ", "  ", "\t", "\u00a0", "\u2003", "tok", "a.b.c", "x", "");
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 6 }).map((parts) => parts.join("")),
      (value) => {
        const expected = REFERENCE.exec(value);
        const got = call(P, auth(value));
        const want = expected ? { token: expected[1], forwardUrl: P } : BAD_HEADER;
        if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${JSON.stringify(value)}: ${JSON.stringify(got)}`);
      },
    ),
    { numRuns: 5000 },
  );
  t.pass("5000 generated values read alike");
});
