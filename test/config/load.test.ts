/**
 * parseConfig: defaults, duration/size forms, `${ENV}` substitution, secrets, and every problem reported
 * as `FILE:LINE:COL: dotted.path: message` (contract "Command line" and "Configuration keys that are
 * fixed"; every key documented with its default in config/gateway.example.yaml).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: YAML texts contain literal ${ENV} references
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { parse as parseYaml } from "yaml";
import { parseDuration, parseSize } from "../../src/config/duration.js";
import { ConfigError, type ConfigProblem, formatProblem, type LoadOptions, parseConfig } from "../../src/config/load.js";
import { configSchema } from "../../src/config/schema.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLE_FILE = path.join(ROOT, "config/gateway.example.yaml");
const DEFAULT_FILE = path.join(ROOT, "config/gateway.yaml");
const EXAMPLE_TEXT = fs.readFileSync(EXAMPLE_FILE, "utf8");

const FILE = "gw.yaml";
const SECRET = "0123456789abcdef0123456789abcdef"; // exactly 32 bytes: the HS256 minimum (RFC 7518 §3.2)
const MINIMAL = `server_name: example.org\njwt:\n  secret: ${SECRET}\n`;

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/** parseConfig with an empty environment unless told otherwise. */
function parse(text: string, options: LoadOptions = {}, file = FILE) {
  return parseConfig(text, file, { env: {}, ...options });
}

/** The ConfigError the text must produce; a file that is accepted fails the test. */
function configError(text: string, options: LoadOptions = {}, file = FILE): ConfigError {
  try {
    parse(text, options, file);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError, but the file was accepted");
}

/** The printed problem lines, in file order (line, then column). */
function problemLines(text: string, options: LoadOptions = {}, file = FILE): string[] {
  const position = (line: string) => {
    const match = /^.*?:(\d+):(\d+): /.exec(line);
    return match ? Number(match[1]) * 100_000 + Number(match[2]) : 0;
  };
  return configError(text, options, file)
    .message.split("\n")
    .map((line, index) => ({ line, index }))
    .sort((a, b) => position(a.line) - position(b.line) || a.index - b.index)
    .map(({ line }) => line);
}

t.test("the minimal file yields every documented default", async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, "gw.yaml");
  const config = parse(MINIMAL, {}, file);

  // The values documented in config/gateway.example.yaml, durations in ms, sizes in bytes. Keys added
  // later are compared with the file's `Default` comments by the next test.
  const table: [string, unknown][] = [
    ["server_name", "example.org"],
    ["listen.host", "127.0.0.1"],
    ["listen.port", 8080],
    ["upstream.url", "http://127.0.0.1:8008"],
    ["upstream.timeout", 60 * SECOND],
    ["upstream.max_long_poll", 5 * MINUTE],
    ["upstream.max_sockets", 1024],
    ["upstream.socket_wait", 5 * SECOND],
    ["jwt.create_secret_file", false],
    ["jwt.issuer", "matrix-auth-gateway"],
    ["jwt.audience", "example.org"], // default: server_name
    ["jwt.clock_skew", 5 * SECOND],
    ["tokens.access_ttl", 5 * MINUTE],
    ["tokens.nonrefreshable_access_ttl", 90 * DAY],
    ["tokens.refresh_ttl", 30 * DAY],
    ["tokens.session_max_age", 90 * DAY],
    ["tokens.refresh_reuse_grace", 30 * SECOND],
    ["store.type", "sqlite"],
    ["store.path", path.join(dir, "data/gateway.sqlite")], // relative to the config file's directory
    ["store.cache_ttl", 5 * MINUTE],
    ["store.cache_size", 100_000],
    ["trusted_proxies", []],
    ["public_endpoints", parseYaml(EXAMPLE_TEXT).public_endpoints],
    ["passthrough_prefixes", []],
    ["rate_limits.enabled", true],
    ["http.headers_timeout", 10 * SECOND],
    ["http.request_timeout", 120 * SECOND],
    ["http.keep_alive_timeout", 65 * SECOND],
    ["http.max_json_body", 64 * 1024],
    ["http.shutdown_timeout", 30 * SECOND],
    ["log.level", "info"],
    ["source", file],
  ];
  for (const [dotted, expected] of table) t.same(valueAt(config, dotted), expected, dotted);
  t.equal(config.public_endpoints.length, 14, "the documented default list has 14 entries");
  t.same(config.jwt.secret, Buffer.from(SECRET, "utf8"));
  t.notOk("secret_file" in config.jwt || "encryption_key_file" in config.store, "file names are replaced by their contents");

  // Without store.encryption_key the key is derived from the JWT secret: 32 bytes, never the secret itself.
  const key = config.store.encryption_key;
  t.equal(key.length, 32);
  t.notSame(key, config.jwt.secret?.subarray(0, 32));
  t.same(parse(MINIMAL, {}, file).store.encryption_key, key, "the derivation is deterministic");
  const otherSecret = parse(`server_name: example.org\njwt:\n  secret: ${SECRET.toUpperCase()}\n`, {}, file);
  t.notSame(otherSecret.store.encryption_key, key, "another JWT secret derives another key");
});

/**
 * The `Default D.` comments of config/gateway.example.yaml by dotted key: a `# Default D. …` comment
 * block right above the key, or a `key: value # default D — …` comment on its line. `qualified` marks a
 * default followed by `:` and prose (e.g. `Default {}: only the built-in classes`), not a plain value.
 */
function documentedDefaults(text: string): Map<string, { text: string; qualified: boolean }> {
  const found = new Map<string, { text: string; qualified: boolean }>();
  const parents: { indent: number; key: string }[] = [];
  let pending: string | undefined;
  for (const line of text.split("\n")) {
    if (/^\s*$/.test(line)) {
      pending = undefined;
      continue;
    }
    const comment = /^\s*#\s?(.*)$/.exec(line);
    if (comment) {
      const start = /^Default (.*)$/i.exec(comment[1] as string);
      if (start) pending = start[1];
      continue;
    }
    const entry = /^( *)([a-z][a-z0-9_]*):(.*)$/.exec(line);
    if (!entry) continue;
    const [, indent, key, rest] = entry as unknown as [string, string, string, string];
    while (parents.length && (parents.at(-1) as { indent: number }).indent >= indent.length) parents.pop();
    const dotted = [...parents.map((p) => p.key), key].join(".");
    if (/^\s*(#.*)?$/.test(rest)) parents.push({ indent: indent.length, key });
    const inline = /#\s*default (.*)$/i.exec(rest)?.[1];
    const description = inline ?? pending;
    pending = undefined;
    if (description !== undefined) found.set(dotted, leadingValue(description));
  }
  return found;
}

/** `{points: 10, duration: 1m}. Text` → the flow value; `5m. Text` → `5m`. */
function leadingValue(description: string): { text: string; qualified: boolean } {
  const open = description[0];
  if (open === "{" || open === "[") {
    let depth = 0;
    for (let i = 0; i < description.length; i++) {
      if (description[i] === "{" || description[i] === "[") depth++;
      if (description[i] === "}" || description[i] === "]") depth--;
      if (depth === 0) return { text: description.slice(0, i + 1), qualified: description[i + 1] === ":" };
    }
  }
  const match = /^(\S+?)([.:])?(?:\s|$)/.exec(description);
  return { text: match?.[1] ?? description, qualified: match?.[2] === ":" };
}

/** A documented default (YAML text) in the parsed config's units: durations in ms, sizes in bytes. */
function inConfigUnits(documented: unknown, actual: unknown, dotted: string): unknown {
  if (typeof actual === "number" && typeof documented === "string") return parseDuration(documented) ?? parseSize(documented);
  if (dotted === "store.path" && typeof documented === "string") return path.resolve(path.dirname(EXAMPLE_FILE), documented);
  if (documented && typeof documented === "object" && !Array.isArray(documented) && actual && typeof actual === "object") {
    return Object.fromEntries(
      Object.entries(documented).map(([key, value]) => [key, inConfigUnits(value, (actual as Record<string, unknown>)[key], key)]),
    );
  }
  return documented;
}

t.test("the example's `Default` comments agree with the parsed defaults", async (t) => {
  const defaults = parse(MINIMAL, {}, EXAMPLE_FILE);
  const documented = documentedDefaults(EXAMPLE_TEXT);
  t.ok(documented.size >= 25, `${documented.size} documented defaults found`);
  for (const [dotted, { text, qualified }] of documented) {
    if (qualified) continue; // prose, e.g. `Default {}: only the built-in classes`
    const actual = JSON.parse(JSON.stringify(valueAt(defaults, dotted) ?? null));
    t.same(actual, inConfigUnits(parseYaml(text), actual, dotted), `${dotted}: parsed default matches "Default ${text}"`);
  }
  // Every key that has a default carries such a comment, or sits inside a value that does
  // (rate_limits.login.per_address documents points and duration at once). public_endpoints' default
  // is the list the file itself sets (compared in the first test).
  const covered = (dotted: string) => {
    const parts = dotted.split(".");
    return parts.some((_part, i) => i >= 1 && documented.has(parts.slice(0, i + 1).join("."))) || documented.has(dotted);
  };
  const undocumented = schemaKeys()
    .filter((k) => k.hasDefault && k.path !== "public_endpoints" && !covered(k.path))
    .map((k) => k.path);
  t.same(undocumented, [], 'keys with a default but no "Default" comment in config/gateway.example.yaml');
});

t.test("the example file sets every key to its default", async (t) => {
  // Parsed as the same file name, the example and the minimal file must give the same configuration.
  const env = { GATEWAY_JWT_SECRET: SECRET };
  t.same(parse(EXAMPLE_TEXT, { env }, EXAMPLE_FILE), parse(MINIMAL, {}, EXAMPLE_FILE));
});

function valueAt(object: unknown, dotted: string): unknown {
  let value = object;
  for (const key of dotted.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

interface SchemaKey {
  path: string;
  type: string;
  /** The key gets a value when the file leaves it out (not inside an optional object the file leaves out). */
  hasDefault: boolean;
}

/** Every leaf key of the zod schema, with defaults/prefaults/optionals unwrapped (zod v4 `def`). */
function schemaKeys(): SchemaKey[] {
  interface Node {
    def: { type: string; innerType?: Node; shape?: Record<string, Node> };
  }
  const keys: SchemaKey[] = [];
  const walk = (node: Node, at: string[], insideOptional: boolean) => {
    let def = node.def;
    let hasDefault = false;
    let optional = false;
    while (def.innerType && ["default", "prefault", "optional", "nullable"].includes(def.type)) {
      hasDefault ||= def.type === "default" || def.type === "prefault";
      optional ||= def.type === "optional";
      def = def.innerType.def;
    }
    if (def.type === "object" && def.shape) {
      const optionalObject = insideOptional || (optional && !hasDefault);
      for (const [key, child] of Object.entries(def.shape)) walk(child, [...at, key], optionalObject);
    } else {
      keys.push({ path: at.join("."), type: def.type, hasDefault: hasDefault && !insideOptional });
    }
  };
  walk(configSchema as unknown as Node, [], false);
  return keys;
}

t.test("the example file mentions every key of the schema", async (t) => {
  const keys = schemaKeys();
  t.ok(keys.length >= 30, `walked ${keys.length} keys`);
  const missing = new Set<string>();
  for (const { path: dotted } of keys) {
    const [section, ...nested] = dotted.split(".") as [string, ...string[]];
    // A top-level key without a default (public_baseurl) is shown commented out.
    if (!new RegExp(`^(?:# )?${section}:`, "m").test(EXAMPLE_TEXT)) missing.add(section);
    // Nested keys must appear inside their section (block or flow style, possibly commented out).
    const body = new RegExp(`^${section}:.*\\n((?:[ #].*\\n|\\n)*)`, "m").exec(EXAMPLE_TEXT)?.[1] ?? "";
    nested.forEach((key, depth) => {
      if (!new RegExp(`(?:^|[\\s{,#])${key}:`, "m").test(body)) missing.add([section, ...nested.slice(0, depth + 1)].join("."));
    });
  }
  t.same([...missing], [], "keys of the schema that config/gateway.example.yaml does not mention");
});

t.test("config/gateway.example.yaml and config/gateway.yaml are valid", async (t) => {
  const example = parse(EXAMPLE_TEXT, { env: { GATEWAY_JWT_SECRET: SECRET } }, EXAMPLE_FILE);
  t.equal(example.server_name, "example.org");
  t.same(example.jwt.secret, Buffer.from(SECRET));

  // Without the variable the example names the line of `secret: ${GATEWAY_JWT_SECRET}`.
  const lines = EXAMPLE_TEXT.split("\n");
  const index = lines.findIndex((l) => l.startsWith("  secret: ${GATEWAY_JWT_SECRET}"));
  t.ok(index > 0);
  t.same(problemLines(EXAMPLE_TEXT, {}, EXAMPLE_FILE), [
    `${EXAMPLE_FILE}:${index + 1}:11: jwt.secret: environment variable GATEWAY_JWT_SECRET is not set`,
  ]);

  // config/gateway.yaml runs as is with `npm start`: its secret file is created on first start, so
  // --check (createMissingSecret false) accepts it without writing anything.
  const secretFile = path.join(ROOT, "data/jwt.secret");
  const existed = fs.existsSync(secretFile);
  const config = parseConfig(fs.readFileSync(DEFAULT_FILE, "utf8"), DEFAULT_FILE, { env: {}, createMissingSecret: false });
  t.equal(config.server_name, "localhost");
  t.equal(config.store.type, "sqlite");
  t.equal(config.store.path, path.join(ROOT, "data/gateway.sqlite"));
  t.ok((config.jwt.secret?.length ?? 0) >= 32);
  t.equal(fs.existsSync(secretFile), existed, "validation did not create the secret file");
});

t.test("duration forms", async (t) => {
  const cases: [string, number][] = [
    ["500ms", 500],
    ["30s", 30 * SECOND],
    ["5m", 5 * MINUTE],
    ["12h", 12 * 60 * MINUTE],
    ["30d", 30 * DAY],
    ["30", 30 * SECOND], // a bare YAML number is seconds
    ["1.5s", 1_500],
    ["0s", 0],
  ];
  for (const [text, ms] of cases) {
    const config = parse(`${MINIMAL}http:\n  shutdown_timeout: ${text}\n`);
    t.equal(config.http.shutdown_timeout, ms, `shutdown_timeout: ${text} → ${ms} ms`);
  }
  // Relations between durations use the converted values: 1d of access token, 2d session.
  const tokens = parse(
    `${MINIMAL}tokens:\n  access_ttl: 1d\n  session_max_age: 172800\n  refresh_ttl: 90m\n  refresh_reuse_grace: 0s\n`,
  ).tokens;
  t.same(tokens, {
    access_ttl: DAY,
    nonrefreshable_access_ttl: 90 * DAY,
    refresh_ttl: 90 * MINUTE,
    session_max_age: 2 * DAY,
    refresh_reuse_grace: 0,
  });
});

t.test("size forms", async (t) => {
  const cases: [string, number][] = [
    ["512B", 512],
    ["64KiB", 65_536],
    ["10MiB", 10 * 1024 * 1024],
    ["1024", 1024],
  ];
  for (const [text, bytes] of cases) {
    t.equal(parse(`${MINIMAL}http:\n  max_json_body: ${text}\n`).http.max_json_body, bytes, `max_json_body: ${text}`);
  }
});

t.test("${ENV} substitution", async (t) => {
  t.test("in any string, block or flow, quoted or plain", async (t) => {
    const env = { SN: "example.org", HOST: "10.0.0.5", SEC: SECRET, ISS: "issuer", DIR: "/var/lib/gw", NET: "10.0.0.0/8", EMPTY: "" };
    const config = parse(
      [
        "server_name: ${SN}",
        'upstream: {url: "http://${HOST}:8008"}',
        "jwt:",
        "  secret: ${SEC}",
        "  issuer: 'pre-${ISS}-${EMPTY}post'",
        "store:",
        "  path: ${DIR}/gw.sqlite",
        "trusted_proxies:",
        "  - ${NET}",
        "public_endpoints:",
        "  - GET /_matrix/client/${ISS}",
        "# a comment may mention ${UNSET} without a problem",
        "",
      ].join("\n"),
      { env },
    );
    t.equal(config.server_name, "example.org");
    t.equal(config.upstream.url, "http://10.0.0.5:8008");
    t.same(config.jwt.secret, Buffer.from(SECRET));
    t.equal(config.jwt.issuer, "pre-issuer-post", "a variable set to the empty string is substituted");
    t.equal(config.jwt.audience, "example.org");
    t.equal(config.store.path, "/var/lib/gw/gw.sqlite");
    t.same(config.trusted_proxies, ["10.0.0.0/8"]);
    t.same(config.public_endpoints, ["GET /_matrix/client/issuer"]);
  });

  t.test("numbers, booleans and durations take the text a variable yields", async (t) => {
    const env = { PORT: "8448", WORKERS: "2", LIMITS: "false", CACHE: "5000", TTL: "300", REQUESTS: "true" };
    const config = parse(
      [
        MINIMAL.trimEnd(),
        "listen:",
        "  port: ${PORT}",
        "workers: ${WORKERS}",
        "rate_limits:",
        "  enabled: ${LIMITS}",
        "store:",
        "  cache_size: ${CACHE}",
        "tokens:",
        "  access_ttl: ${TTL}",
        // In a flow mapping, `{` would open a mapping: quote the reference there.
        'log: {requests: "${REQUESTS}"}',
        "",
      ].join("\n"),
      { env },
    );
    t.equal(config.listen.port, 8448);
    t.equal(config.workers, 2);
    t.equal(config.rate_limits.enabled, false);
    t.equal(config.store.cache_size, 5000);
    t.equal(config.tokens.access_ttl, 300 * SECOND, "a bare number of seconds, as `access_ttl: 300` would be");
    t.equal(config.log.requests, true);
    // Text that is not a number or a boolean is still refused, at its path.
    t.same(problemLines(`${MINIMAL}listen:\n  port: \${PORT}\nrate_limits:\n  enabled: \${ON}\n`, { env: { PORT: "80 80", ON: "yes" } }), [
      "gw.yaml:5:3: listen.port: must be a number, not text",
      "gw.yaml:7:3: rate_limits.enabled: must be true or false, not text",
    ]);
  });

  t.test("a substituted value is used literally: not YAML, not expanded again", async (t) => {
    const env = { SEC: SECRET, ISS: "a: [b] ${SEC} $SEC" };
    const config = parse("server_name: example.org\njwt:\n  secret: ${SEC}\n  issuer: ${ISS}\n", { env });
    t.equal(config.jwt.issuer, "a: [b] ${SEC} $SEC");
    // `$NAME` without braces is not a reference.
    t.same(parse(`server_name: example.org\njwt:\n  secret: $SEC${SECRET}\n`, { env }).jwt.secret, Buffer.from(`$SEC${SECRET}`));
  });

  t.test("an unset variable is a problem at its scalar, with its path", async (t) => {
    t.same(problemLines("server_name: example.org\njwt:\n  secret: ${NOPE}\n"), [
      "gw.yaml:3:11: jwt.secret: environment variable NOPE is not set",
    ]);
    // The empty substitute then fails the URL check too; both are reported.
    t.same(problemLines(`${MINIMAL}upstream: {timeout: 5s, url: "http://\${H}:8008"}\n`), [
      "gw.yaml:4:25: upstream.url: must be an http(s) URL with no path, e.g. http://127.0.0.1:8008",
      "gw.yaml:4:30: upstream.url: environment variable H is not set",
    ]);
    // In a list: the index is part of the path.
    t.same(problemLines(`${MINIMAL}public_endpoints:\n  - GET /a\n  - GET /\${P}\n`), [
      "gw.yaml:6:5: public_endpoints.1: environment variable P is not set",
    ]);
    // Two unset variables in one scalar: both named.
    t.same(problemLines(`${MINIMAL}log:\n  level: info\nstore:\n  path: \${A}/\${B}\n`), [
      "gw.yaml:7:9: store.path: environment variable A is not set",
      "gw.yaml:7:9: store.path: environment variable B is not set",
    ]);
    // The variable is looked up in the given environment, not only in process.env.
    t.same(parse("server_name: example.org\njwt:\n  secret: ${NOPE}\n", { env: { NOPE: SECRET } }).jwt.secret, Buffer.from(SECRET));
  });
});

t.test("every invalid file names FILE:LINE:COL: dotted.path: message", async (t) => {
  const cases: { name: string; yaml: string; lines: string[] }[] = [
    { name: "unknown top-level key", yaml: `${MINIMAL}bogus: 1\n`, lines: ['gw.yaml:4:1: bogus: unknown key "bogus"'] },
    {
      name: "unknown nested key",
      yaml: `${MINIMAL}listen:\n  hots: 0.0.0.0\n`,
      lines: ['gw.yaml:5:3: listen.hots: unknown key "hots" (did you mean "host"?)'],
    },
    {
      name: "unknown key in a flow mapping",
      yaml: `server_name: example.org\njwt: {secret: ${SECRET}, bogus: 1}\n`,
      lines: ['gw.yaml:2:49: jwt.bogus: unknown key "bogus"'],
    },
    {
      name: "wrong type (string for a number)",
      yaml: `${MINIMAL}listen:\n  port: "80a"\n`,
      lines: ["gw.yaml:5:3: listen.port: must be a number, not text"],
    },
    {
      name: "log buffer of 4KiB or more",
      yaml: `${MINIMAL}log:\n  buffer: 4KiB\n`,
      lines: ["gw.yaml:5:3: log.buffer: must be less than 4KiB"],
    },
    {
      name: "wrong type (string for a boolean)",
      yaml: `${MINIMAL}rate_limits:\n  enabled: "yes"\n`,
      lines: ["gw.yaml:5:3: rate_limits.enabled: must be true or false, not text"],
    },
    {
      name: "port out of range",
      yaml: `${MINIMAL}listen:\n  port: 65536\n`,
      lines: ["gw.yaml:5:3: listen.port: must be at most 65535"],
    },
    {
      name: "unknown store type",
      yaml: `${MINIMAL}store:\n  type: postgres\n`,
      lines: ['gw.yaml:5:3: store.type: must be one of "sqlite", "memory", "redis"'],
    },
    {
      name: "bad duration",
      yaml: `${MINIMAL}tokens:\n  access_ttl: 5 minutes\n`,
      lines: ['gw.yaml:5:3: tokens.access_ttl: not a duration: "5 minutes" (use e.g. 500ms, 30s, 5m, 12h, 30d)'],
    },
    {
      name: "negative bare duration",
      yaml: `${MINIMAL}upstream:\n  timeout: -1\n`,
      lines: ["gw.yaml:5:3: upstream.timeout: not a duration: -1 (use e.g. 500ms, 30s, 5m, 12h, 30d)"],
    },
    {
      name: "bad size",
      yaml: `${MINIMAL}http:\n  max_json_body: 64KB\n`,
      lines: ['gw.yaml:5:3: http.max_json_body: not a size: "64KB" (use e.g. 512B, 64KiB, 10MiB)'],
    },
    ...["http://127.0.0.1:8008/_matrix", "ftp://127.0.0.1:8008", "http://h:8008?x=1", "not a url"].map((url) => ({
      name: `bad upstream URL ${url}`,
      yaml: `${MINIMAL}upstream:\n  url: ${url}\n`,
      lines: ["gw.yaml:5:3: upstream.url: must be an http(s) URL with no path, e.g. http://127.0.0.1:8008"],
    })),
    ...["10.0.0.0/33", "300.0.0.0/8", "fd00::/129", "10.0.0.0/8/8", "10.0.0.0/x", "proxy.local"].map((bad) => ({
      name: `bad CIDR ${bad}`,
      yaml: `${MINIMAL}trusted_proxies:\n  - 10.0.0.0/8\n  - ${bad}\n`,
      lines: ["gw.yaml:6:5: trusted_proxies.1: must be an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8"],
    })),
    {
      name: "secret shorter than 32 bytes",
      yaml: `server_name: example.org\njwt:\n  secret: ${SECRET.slice(1)}\n`,
      lines: ["gw.yaml:3:3: jwt.secret: HS256 secret must be at least 32 bytes (got 31)"],
    },
    {
      name: "both secret and secret_file",
      yaml: `${MINIMAL}  secret_file: jwt.secret\n`,
      lines: ["gw.yaml:2:1: jwt: set exactly one of jwt.secret, jwt.secret_file and jwt.keys"],
    },
    {
      name: "neither secret nor secret_file",
      yaml: "server_name: example.org\njwt:\n  issuer: me\n",
      lines: ["gw.yaml:2:1: jwt: set exactly one of jwt.secret, jwt.secret_file and jwt.keys"],
    },
    {
      name: "no jwt section",
      yaml: "server_name: example.org\n",
      lines: ["gw.yaml:1:1: jwt: is required"],
    },
    {
      name: "missing server_name",
      yaml: `log:\n  level: info\njwt:\n  secret: ${SECRET}\n`,
      lines: ["gw.yaml:1:1: server_name: is required"],
    },
    {
      name: "server_name that is not a server name",
      yaml: `server_name: https://example.org\njwt:\n  secret: ${SECRET}\n`,
      lines: ["gw.yaml:1:1: server_name: must be a Matrix server name, e.g. example.org"],
    },
    {
      name: "YAML syntax error",
      yaml: "server_name: example.org\njwt:\n  secret: [\n",
      lines: ["gw.yaml:4:1: (root): Flow sequence in block collection must be sufficiently indented and end with a ]"],
    },
    {
      name: "duplicate nested key",
      yaml: `${MINIMAL}  secret: ${SECRET}\n`,
      lines: ["gw.yaml:4:3: jwt.secret: Map keys must be unique"],
    },
    {
      name: "duplicate top-level key",
      yaml: `${MINIMAL}log: {level: info}\nserver_name: example.com\n`,
      lines: ["gw.yaml:5:1: server_name: Map keys must be unique"],
    },
    {
      name: "duplicate key in a flow mapping",
      yaml: `${MINIMAL}rate_limits:\n  login:\n    per_address: {points: 1, points: 2, duration: 1m}\n`,
      lines: ["gw.yaml:6:30: rate_limits.login.per_address.points: Map keys must be unique"],
    },
    {
      name: "a list where a mapping belongs",
      yaml: "- server_name\n- jwt\n",
      lines: ["gw.yaml:1:1: (root): must be a mapping of keys, not a list"],
    },
    {
      name: "refresh_reuse_grace equal to refresh_ttl",
      yaml: `${MINIMAL}tokens:\n  refresh_ttl: 1m\n  refresh_reuse_grace: 60s\n`,
      lines: ["gw.yaml:6:3: tokens.refresh_reuse_grace: must be shorter than tokens.refresh_ttl"],
    },
    {
      name: "refresh_reuse_grace longer than refresh_ttl",
      yaml: `${MINIMAL}tokens:\n  refresh_reuse_grace: 31d\n`,
      lines: ["gw.yaml:5:3: tokens.refresh_reuse_grace: must be shorter than tokens.refresh_ttl"],
    },
    {
      name: "session_max_age shorter than access_ttl",
      yaml: `${MINIMAL}tokens:\n  access_ttl: 10m\n  session_max_age: 9m\n`,
      lines: ["gw.yaml:6:3: tokens.session_max_age: must not be shorter than tokens.access_ttl"],
    },
    {
      name: "zero access_ttl",
      yaml: `${MINIMAL}tokens:\n  access_ttl: 0s\n`,
      lines: ["gw.yaml:5:3: tokens.access_ttl: must be longer than 0s"],
    },
    {
      name: "request_timeout shorter than headers_timeout",
      yaml: `${MINIMAL}http:\n  headers_timeout: 10s\n  request_timeout: 5s\n`,
      lines: ["gw.yaml:6:3: http.request_timeout: must not be shorter than http.headers_timeout"],
    },
    ...["get /_matrix/client/versions", "GET", "GET _matrix/client/versions", "GET, POST /x"].map((entry) => ({
      name: `bad public_endpoints entry ${JSON.stringify(entry)}`,
      yaml: `${MINIMAL}public_endpoints:\n  - GET /ok\n  - ${entry}\n`,
      lines: ['gw.yaml:6:5: public_endpoints.1: must be "METHOD[,METHOD] /path/pattern"'],
    })),
    // Malformed patterns are config errors at their position; none of them may hang start-up (an unclosed
    // "{" once did, after passing --check).
    ...(
      [
        ["GET /a b", "a path pattern has no spaces"],
        ["GET /_matrix/client/{r0,v3/login", '"{" without a closing "}"'],
        ["GET /_matrix/client/{r0,{v3}}/login", '"{" inside "{…}" at character 25: alternatives do not nest'],
        ["GET /_matrix/client/{r0,}/login", 'empty alternative in "{…}" at character 25'],
        ["GET /_matrix/client/r0}/login", '"}" without "{" at character 23'],
        ["GET /_matrix/client/{r*}/login", '"*" inside "{…}" at character 23: alternatives are literal'],
        ["GET /_matrix/**/login", '"**" is only allowed as a last segment, "/**"'],
        ["GET /_matrix/client/x**", '"**" is only allowed as a last segment, "/**"'],
      ] as const
    ).map(([entry, message]) => ({
      name: `malformed public_endpoints pattern ${JSON.stringify(entry)}`,
      yaml: `${MINIMAL}public_endpoints:\n  - GET /ok\n  - ${entry}\n`,
      lines: [`gw.yaml:6:5: public_endpoints.1: ${message}`],
    })),
    ...["/_matrix/federation", "_matrix/federation/", "/a b/", "/a?b/"].map((prefix) => ({
      name: `bad passthrough prefix ${JSON.stringify(prefix)}`,
      yaml: `${MINIMAL}passthrough_prefixes:\n  - "${prefix}"\n`,
      lines: ["gw.yaml:5:5: passthrough_prefixes.0: must be a path prefix starting and ending with /"],
    })),
    {
      name: "store.encryption_key shorter than 32 bytes",
      yaml: `${MINIMAL}store:\n  encryption_key: ${SECRET.slice(2)}\n`,
      lines: ["gw.yaml:5:3: store.encryption_key: must be at least 32 bytes"],
    },
    {
      name: "both store.encryption_key and store.encryption_key_file",
      yaml: `${MINIMAL}store:\n  encryption_key: ${SECRET}\n  encryption_key_file: store.key\n`,
      lines: ["gw.yaml:4:1: store: set at most one of store.encryption_key and store.encryption_key_file"],
    },
  ];
  for (const { name, yaml, lines } of cases) {
    t.same(problemLines(yaml), lines, name);
  }
});

t.test("ConfigError carries the structured problems behind its message", async (t) => {
  const error = configError(`${MINIMAL}listen:\n  hots: x\n`, {}, "/etc/gw/gateway.yaml");
  t.equal(error.name, "ConfigError");
  t.equal(error.file, "/etc/gw/gateway.yaml");
  const expected: ConfigProblem[] = [{ line: 5, col: 3, path: "listen.hots", message: 'unknown key "hots" (did you mean "host"?)' }];
  t.same(error.problems, expected);
  t.equal(error.message, '/etc/gw/gateway.yaml:5:3: listen.hots: unknown key "hots" (did you mean "host"?)');
  t.equal(formatProblem("f", { line: 1, col: 2, path: "", message: "m" }), "f:1:2: (root): m", "an empty path prints as (root)");
});

t.test("several problems in one file are all reported", async (t) => {
  // Problems found while validating the shape: five of them, one pass.
  const shape = [
    "server_name: example.org",
    "jwt:",
    `  secret: ${SECRET}`,
    "  bogus: 1",
    "listen:",
    '  port: "eighty"',
    "tokens:",
    "  access_ttl: soon",
    "trusted_proxies:",
    "  - 10.0.0.1",
    "  - 300.0.0.0/8",
    "upstream:",
    "  url: ftp://x",
    "",
  ].join("\n");
  t.same(problemLines(shape), [
    'gw.yaml:4:3: jwt.bogus: unknown key "bogus"',
    "gw.yaml:6:3: listen.port: must be a number, not text",
    'gw.yaml:8:3: tokens.access_ttl: not a duration: "soon" (use e.g. 500ms, 30s, 5m, 12h, 30d)',
    "gw.yaml:11:5: trusted_proxies.1: must be an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8",
    "gw.yaml:13:3: upstream.url: must be an http(s) URL with no path, e.g. http://127.0.0.1:8008",
  ]);
  t.equal(configError(shape).problems.length, 5);

  // Problems between values and with the secrets: four of them, one pass.
  const relations = [
    "server_name: example.org",
    "jwt:",
    "  secret: short",
    "store:",
    "  encryption_key: short",
    "tokens:",
    "  access_ttl: 10m",
    "  session_max_age: 5m",
    "  refresh_ttl: 1m",
    "  refresh_reuse_grace: 1m",
    "",
  ].join("\n");
  t.same(problemLines(relations), [
    "gw.yaml:3:3: jwt.secret: HS256 secret must be at least 32 bytes (got 5)",
    "gw.yaml:5:3: store.encryption_key: must be at least 32 bytes",
    "gw.yaml:8:3: tokens.session_max_age: must not be shorter than tokens.access_ttl",
    "gw.yaml:10:3: tokens.refresh_reuse_grace: must be shorter than tokens.refresh_ttl",
  ]);
  t.equal(configError(relations).problems.length, 4);

  // Shape problems and the checks of the sections that did parse, in the same pass: a mistyped port, a
  // short secret and two lifetimes that do not fit together. The tokens section parsed, so it is checked;
  // the broken upstream section is not checked again.
  const mixed = [
    "server_name: example.org",
    "jwt:",
    "  secret: short",
    "listen:",
    "  port: eighty",
    "tokens:",
    "  access_ttl: 10m",
    "  session_max_age: 5m",
    "upstream:",
    "  timeout: soon",
    "",
  ].join("\n");
  t.same(problemLines(mixed), [
    "gw.yaml:3:3: jwt.secret: HS256 secret must be at least 32 bytes (got 5)",
    "gw.yaml:5:3: listen.port: must be a number, not text",
    "gw.yaml:8:3: tokens.session_max_age: must not be shorter than tokens.access_ttl",
    'gw.yaml:10:3: upstream.timeout: not a duration: "soon" (use e.g. 500ms, 30s, 5m, 12h, 30d)',
  ]);
  t.equal(configError(mixed).problems.length, 4);

  // Unset variables and the shape problems they cause are reported together.
  const env = problemLines(`server_name: \${SN}\njwt:\n  secret: ${SECRET}\nlisten:\n  hots: x\n`);
  t.same(env, [
    "gw.yaml:1:1: server_name: must be a Matrix server name, e.g. example.org",
    "gw.yaml:1:14: server_name: environment variable SN is not set",
    'gw.yaml:5:3: listen.hots: unknown key "hots" (did you mean "host"?)',
  ]);
});

t.test("jwt.secret_file", async (t) => {
  t.test("is read relative to the config file, one trailing newline ignored", async (t) => {
    const dir = t.testdir({ keys: { "jwt.secret": `${SECRET}\n` }, "crlf.secret": `${SECRET}\r\n`, "two.secret": `${SECRET}\n\n` });
    const file = path.join(dir, "gw.yaml");
    const read = (secretFile: string) => parse(`server_name: example.org\njwt:\n  secret_file: ${secretFile}\n`, {}, file).jwt.secret;
    t.same(read("keys/jwt.secret"), Buffer.from(SECRET));
    t.same(read(path.join(dir, "keys/jwt.secret")), Buffer.from(SECRET), "absolute path");
    t.same(read("crlf.secret"), Buffer.from(SECRET), "CRLF ending");
    t.same(read("two.secret"), Buffer.from(`${SECRET}\n`), "only one newline is dropped");
  });

  t.test("a missing or short file is a problem at jwt.secret_file", async (t) => {
    const dir = t.testdir({ "short.secret": "too short\n" });
    const file = path.join(dir, "gw.yaml");
    t.same(problemLines("server_name: example.org\njwt:\n  secret_file: short.secret\n", {}, file), [
      `${file}:3:3: jwt.secret_file: HS256 secret must be at least 32 bytes (got 9)`,
    ]);
    const missing = problemLines("server_name: example.org\njwt:\n  secret_file: missing.secret\n", {}, file);
    t.equal(missing.length, 1);
    t.match(
      missing[0],
      new RegExp(
        `^${escapeRegExp(file)}:3:3: jwt\\.secret_file: cannot read secret file: ENOENT.*${escapeRegExp(path.join(dir, "missing.secret"))}`,
      ),
    );
  });

  t.test("create_secret_file creates a 0600 file only when createMissingSecret is set", async (t) => {
    const dir = t.testdir({});
    const file = path.join(dir, "gw.yaml");
    const secretFile = path.join(dir, "state/jwt.secret");
    const yaml = "server_name: example.org\njwt:\n  secret_file: state/jwt.secret\n  create_secret_file: true\n";

    // --check: valid, nothing written.
    const checked = parse(yaml, { createMissingSecret: false }, file);
    t.ok((checked.jwt.secret?.length ?? 0) >= 32, "a secret that will be created counts as valid");
    t.notOk(fs.existsSync(secretFile), "--check does not create the file");
    parse(yaml, {}, file);
    t.notOk(fs.existsSync(secretFile), "createMissingSecret defaults to false");

    // Start: the file is created with mode 0600 and used.
    const started = parse(yaml, { createMissingSecret: true }, file);
    t.ok(fs.existsSync(secretFile));
    t.equal(fs.statSync(secretFile).mode & 0o777, 0o600);
    const content = fs.readFileSync(secretFile, "utf8");
    t.match(content, /^[A-Za-z0-9_-]{64}\n$/, "48 random bytes, base64url, one newline");
    t.same(started.jwt.secret, Buffer.from(content.trimEnd()));

    // The next start reads the same file, it is not replaced.
    t.same(parse(yaml, { createMissingSecret: true }, file).jwt.secret, started.jwt.secret);
    t.equal(fs.readFileSync(secretFile, "utf8"), content);
  });

  t.test("without create_secret_file a missing file is a problem even when starting", async (t) => {
    const dir = t.testdir({});
    const file = path.join(dir, "gw.yaml");
    const lines = problemLines("server_name: example.org\njwt:\n  secret_file: jwt.secret\n", { createMissingSecret: true }, file);
    t.equal(lines.length, 1);
    t.match(lines[0], `${file}:3:3: jwt.secret_file: cannot read secret file: ENOENT`);
    t.notOk(fs.existsSync(path.join(dir, "jwt.secret")));
  });
});

t.test("store.encryption_key and encryption_key_file", async (t) => {
  const dir = t.testdir({ "store.key": `${"k".repeat(32)}\n`, "short.key": "k\n" });
  const file = path.join(dir, "gw.yaml");
  const derived = parse(MINIMAL, {}, file).store.encryption_key;
  const fromKey = parse(`${MINIMAL}store:\n  encryption_key: ${"k".repeat(32)}\n`, {}, file).store.encryption_key;
  const fromFile = parse(`${MINIMAL}store:\n  encryption_key_file: store.key\n`, {}, file).store.encryption_key;
  t.equal(fromKey.length, 32);
  t.notSame(fromKey, derived, "an explicit key decouples the store from the JWT secret");
  t.same(fromFile, fromKey, "the file is read relative to the config, trailing newline ignored");
  t.same(problemLines(`${MINIMAL}store:\n  encryption_key_file: short.key\n`, {}, file), [
    `${file}:5:3: store.encryption_key_file: must be at least 32 bytes`,
  ]);
  const missing = problemLines(`${MINIMAL}store:\n  encryption_key_file: none.key\n`, {}, file);
  t.equal(missing.length, 1);
  t.match(missing[0], `${file}:5:3: store.encryption_key_file: cannot read key file: ENOENT`);
});

t.test("store.path is relative to the config file's directory", async (t) => {
  t.equal(parse(`${MINIMAL}store:\n  path: db/gw.sqlite\n`, {}, "/etc/gw/gateway.yaml").store.path, "/etc/gw/db/gw.sqlite");
  t.equal(parse(`${MINIMAL}store:\n  path: ../gw.sqlite\n`, {}, "/etc/gw/gateway.yaml").store.path, "/etc/gw.sqlite");
  t.equal(parse(`${MINIMAL}store:\n  path: /var/lib/gw.sqlite\n`, {}, "/etc/gw/gateway.yaml").store.path, "/var/lib/gw.sqlite");
  // A relative config file name is anchored at the working directory.
  t.equal(parse(MINIMAL, {}, "conf/gw.yaml").store.path, path.resolve("conf/data/gateway.sqlite"));
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
