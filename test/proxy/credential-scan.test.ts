/**
 * The last-line scanner (proxy/credential-scan.ts) must agree with a JSON parser on what the top-level
 * keys of an answer are, however the answer is cut into chunks: a credential key is found wherever a
 * client's JSON.parse would see it, and nothing else counts.
 */
import fc from "fast-check";
import t from "tap";
import { CredentialScanner } from "../../src/proxy/credential-scan.js";

const scan = (text: string, cuts: number[] = []): boolean => {
  const bytes = Buffer.from(text, "utf8");
  const scanner = new CredentialScanner();
  let start = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    if (scanner.scan(bytes.subarray(start, cut))) return true;
    start = cut;
  }
  return false;
};

/** What a client would see: a top-level object with one of the two keys. */
const parserSees = (text: string): boolean => {
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.hasOwn(value, "access_token") || Object.hasOwn(value, "refresh_token");
};

t.test("examples", async (t) => {
  const table: [string, string, boolean][] = [
    ["a homeserver login answer", '{"user_id":"@a:x","access_token":"syt_x","device_id":"D"}', true],
    ["a refresh token alone", '{"refresh_token":"syr_x"}', true],
    ["escaped key", '{"access\\u005ftoken":"x"}', true],
    ["key after a nested object", '{"a":{"access_token":1},"refresh_token":2}', true],
    ["only nested", '{"a":{"access_token":"x"},"b":[{"refresh_token":"y"}]}', false],
    ["a value containing the text", '{"a":"\\"access_token\\":\\"x\\""}', false],
    ["a key containing the text", '{"my_access_token":1,"access_token_x":2}', false],
    ["top-level array", '[{"access_token":"x"}]', false],
    ["a string", '"access_token"', false],
    ["an openid-shaped answer with other keys", '{"token_type":"Bearer","expires_in":3600}', false],
    ["whitespace everywhere", ' {\n "x" : 1 ,\n  "access_token" : "y" } ', true],
    ["unicode before the key", '{"é":"ü😀","access_token":"y"}', true],
  ];
  for (const [name, text, expected] of table) {
    t.equal(parserSees(text), expected, `${name}: the parser's view`);
    t.equal(scan(text), expected, name);
    for (let cut = 0; cut <= Buffer.byteLength(text); cut++) {
      if (scan(text, [cut]) !== expected) t.fail(`${name}: cut at byte ${cut}`);
    }
  }
});

t.test("property: the scanner sees exactly what JSON.parse sees, in any chunking", async (t) => {
  const key = fc.oneof(fc.constantFrom("access_token", "refresh_token", "user_id", "a", "access_tokens", ""), fc.string({ maxLength: 6 }));
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(null, true, 1, "access_token", '"},{"access_token":'),
      fc.string({ maxLength: 8 }),
      fc.array(tie("value"), { maxLength: 3 }),
      tie("object"),
    ),
    object: fc.array(fc.tuple(key, tie("value")), { maxLength: 4 }).map((pairs) => Object.fromEntries(pairs)),
  }));
  let positives = 0;
  fc.assert(
    fc.property(json.value, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), (value, cuts, escapeKeys) => {
      let text = JSON.stringify(value, null, cuts.length % 2 ? 1 : undefined);
      // Escaped spellings of the same keys: a parser reads them as the keys themselves.
      if (escapeKeys) text = text.replaceAll('"access_token"', '"\\u0061ccess_token"');
      const expected = parserSees(text);
      if (expected) positives++;
      if (scan(text, cuts) !== expected) throw new Error(`scanner disagrees on ${text} cut at ${cuts}`);
    }),
    { numRuns: 3000 },
  );
  t.ok(positives > 50, `${positives} of the generated answers carried a credential (the property is not vacuous)`);
});
