/**
 * zod's messages said in the configuration's terms (src/config/messages.ts): one table row per kind of
 * problem, each the full `path: message` the operator reads. The value found is named by its kind, never
 * echoed (it may be a secret in the wrong place).
 */
import t from "tap";
import { ConfigError, parseConfig } from "../../src/config/load.js";

const SECRET = "messages-test-secret-that-is-at-least-32-bytes";
const MINIMAL = `server_name: example.org\njwt:\n  secret: ${SECRET}\n`;

/** Every problem of `text`, as `path: message`, without the position. */
function problems(text: string): string[] {
  try {
    parseConfig(text, "gw.yaml", { env: {} });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`).sort();
    throw error;
  }
  return [];
}

const cases: { name: string; yaml: string; expected: string[] }[] = [
  { name: "text for a number", yaml: `${MINIMAL}listen: {port: eighty}\n`, expected: ["listen.port: must be a number, not text"] },
  {
    name: "a fraction for a whole number",
    yaml: `${MINIMAL}listen: {port: 80.5}\n`,
    expected: ["listen.port: must be a whole number, not a fraction"],
  },
  { name: "a list for text", yaml: `${MINIMAL}listen: {host: [a, b]}\n`, expected: ["listen.host: must be text, not a list"] },
  { name: "empty for text", yaml: `${MINIMAL}listen: {host: }\n`, expected: ["listen.host: must be text, not empty"] },
  { name: "empty text", yaml: `${MINIMAL}listen: {host: ""}\n`, expected: ["listen.host: must not be empty"] },
  {
    name: "a mapping for a list",
    yaml: `${MINIMAL}trusted_proxies: {a: 1}\n`,
    expected: ["trusted_proxies: must be a list, not a mapping"],
  },
  { name: "text for a section", yaml: `${MINIMAL}listen: everywhere\n`, expected: ["listen: must be a mapping of keys, not text"] },
  { name: "a missing key", yaml: "jwt:\n  secret: x\n".replace("x", SECRET), expected: ["server_name: is required"] },
  { name: "below a minimum", yaml: `${MINIMAL}workers: 0\n`, expected: ["workers: must be at least 1"] },
  { name: "above a maximum", yaml: `${MINIMAL}listen: {port: 70000}\n`, expected: ["listen.port: must be at most 65535"] },
  { name: "not above zero", yaml: `${MINIMAL}store: {cache_size: 0}\n`, expected: ["store.cache_size: must be more than 0"] },
  {
    name: "not one of the choices",
    yaml: `${MINIMAL}store: {type: postgres}\n`,
    expected: ['store.type: must be one of "sqlite", "memory", "redis"'],
  },
  { name: "a choice or a number", yaml: `${MINIMAL}workers: many\n`, expected: ['workers: must be "auto" or a number, not text'] },
  {
    name: "a duration of the wrong type",
    yaml: `${MINIMAL}tokens: {access_ttl: true}\n`,
    expected: ["tokens.access_ttl: must be text or a number, not true"],
  },
  {
    name: "an unknown key near a known one",
    yaml: `${MINIMAL}listen: {prot: 80}\n`,
    expected: ['listen.prot: unknown key "prot" (did you mean "port"?)'],
  },
  {
    name: "a swapped pair of letters",
    yaml: `${MINIMAL}listen: {hots: a}\n`,
    expected: ['listen.hots: unknown key "hots" (did you mean "host"?)'],
  },
  { name: "an unknown key near nothing", yaml: `${MINIMAL}colour: blue\n`, expected: ['colour: unknown key "colour"'] },
  {
    name: "case does not hide the near key",
    yaml: `${MINIMAL}Server_Name: x\n`,
    expected: ['Server_Name: unknown key "Server_Name" (did you mean "server_name"?)'],
  },
  {
    name: "an unknown key in a list item",
    yaml: `server_name: example.org\njwt:\n  keys:\n    - {kid: a, algorithm: HS256, secret: ${SECRET}, secrte: x}\n`,
    expected: ['jwt.keys.0.secrte: unknown key "secrte" (did you mean "secret"?)'],
  },
  {
    name: "the schema's own message is kept",
    yaml: `${MINIMAL}trusted_proxies: [nowhere]\n`,
    expected: ["trusted_proxies.0: must be an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8"],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(problems(c.yaml), c.expected);
  });
}

t.test("a secret of the wrong type is not echoed", async (t) => {
  const lines = problems("server_name: example.org\njwt:\n  secret: 123456789012345678901234567890123456\n");
  t.same(lines, ["jwt.secret: must be text, not a whole number"]);
});
