/**
 * Writes docs/configuration.md: every key of the zod schema (src/config/schema.ts) with its type and default,
 * described by the comment lines above the key in config/gateway.example.yaml.
 *
 *   npm run docs:config            (node --import @tapjs/typescript/import scripts/config-reference.mjs)
 *
 * test/docs/configuration.test.ts renders the page in memory and fails when the file differs or when a key
 * has no description, so a key added to the schema must be documented in the example file.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const OUTPUT = path.join(ROOT, "docs", "configuration.md");
export const EXAMPLE = path.join(ROOT, "config", "gateway.example.yaml");

/**
 * Keys the example file documents only in prose or only with their default: keys inside list items and map
 * entries (its examples there are commented-out flow mappings), and a few whose comment is `# Default X.`
 * alone. A description in the example file takes precedence; move these there when it is next edited.
 */
const EXTRA_DESCRIPTIONS = {
  "listen.host": "Address the gateway listens on (`0.0.0.0` or `::` for every interface).",
  "listen.port": "Port the gateway listens on (0 = any free port).",
  "rate_limits.refresh.per_address": "Refresh requests from one address.",
  "jwt.keys[].kid": "The key's id, written in the `kid` header of every token it signs; 1–64 characters of `A-Z a-z 0-9 . _ -`, unique.",
  "jwt.keys[].algorithm": "HS256 (a shared secret), RS256 (RSA of at least 2048 bits) or ES256 (P-256).",
  "jwt.keys[].secret": "HS256 only: the key, at least 32 bytes. Exactly one of secret and secret_file.",
  "jwt.keys[].secret_file": "HS256 only: a file holding the key (one trailing newline is ignored).",
  "jwt.keys[].private_key_file":
    "RS256/ES256: PEM file of the private key; the key can sign (and verifies with the public key derived from it).",
  "jwt.keys[].public_key_file":
    "RS256/ES256: PEM file of the public key; the key only verifies (a retired key, kept while its tokens live).",
  "rate_limits.routes.<name>.match":
    "Endpoint patterns of the class, as in public_endpoints. Required for a new class; a built-in class (send, join) keeps its own when omitted.",
  "rate_limits.routes.<name>.points": "Requests allowed per duration, per user.",
  "rate_limits.routes.<name>.duration": "The window, at least 1s.",
  "rate_limits.routes.<name>.block": "Optional: a user who went over stays refused this long.",
  "rate_limits.routes.<name>.per_second":
    "Token-bucket form (instead of `points`/`duration`): after the burst, one more request every 1/per_second s.",
  "rate_limits.routes.<name>.burst_count": "Token-bucket form: requests allowed at once before the bucket is empty.",
  "migration.accept_homeserver_tokens_until":
    "Until this ISO 8601 date (00:00 UTC that day) or date-time, a request carrying a homeserver token (one a client got " +
    "before the switch) is checked with the homeserver (`account/whoami`, cached) and proxied unchanged under its user's " +
    "limits; unset (the default) or past, such tokens get `401 M_UNKNOWN_TOKEN`.",
  "metrics.listen.host": "Address of the metrics listener.",
  "metrics.listen.port": "Port of the metrics listener (e.g. 9464).",
};

/** A paragraph under each section heading; sections not listed here get none. */
/**
 * The leaves of Synapse's `rc_*` blocks (`rate_limits.rc_login.address.per_second`, …): the example file
 * documents the blocks as a whole (pasted from homeserver.yaml), so each leaf says what it is in Synapse's terms.
 */
function synapseBlockDescription(keyPath) {
  const match = /^rate_limits\.(rc_[a-z_]+(?:\.[a-z_]+)?)\.(per_second|burst_count)$/.exec(keyPath);
  if (!match) return undefined;
  const [, block, field] = match;
  return field === "per_second"
    ? `Synapse's \`${block}.per_second\` as pasted from homeserver.yaml: after the burst, one more request every 1/per_second s.`
    : `Synapse's \`${block}.burst_count\` as pasted from homeserver.yaml: requests allowed at once.`;
}

const SECTION_INTROS = {
  server_name: "The Matrix server name of the homeserver behind the gateway.",
  workers: "How many processes serve requests.",
  listen: "Where the gateway accepts client connections. Keep it on loopback behind a reverse proxy that terminates TLS.",
  upstream: "The homeserver the gateway forwards to, and how long it waits for it.",
  jwt: "The keys that sign and verify access tokens (JWTs). This section is required: set exactly one of `secret`, `secret_file` and `keys`.",
  tokens: "Lifetimes of access tokens, refresh tokens and login sessions. See docs/api.md for the rotation rules.",
  store: "Where sessions and refresh tokens are kept. The default SQLite file survives restarts; Redis lets several instances share state.",
  credentials: "How the password of a login is checked.",
  upstream_identity: "How proxied requests are authorised at the homeserver.",
  registration: "Whether `POST …/register` is forwarded to the homeserver.",
  trusted_proxies: "Which peers are believed when they send `X-Forwarded-For`.",
  public_endpoints: "Requests the gateway forwards without an access token.",
  passthrough_prefixes: "Paths outside the Matrix client namespaces that are forwarded untouched.",
  rate_limits:
    "Per-address, per-account, per-session and per-user limits, on by default with Synapse's defaults. A limit is written " +
    "`{per_second: R, burst_count: B}` (a token bucket, as Synapse: B at once, then one more every 1/R s) or " +
    "`{points: N, duration: D}` (N requests per fixed window D, at least 1s, optionally with `block: D`: a key that went over " +
    "stays refused that long). Synapse's own `rc_*` blocks are accepted as pasted from homeserver.yaml. Built-in route " +
    "classes, per user: `send` (`PUT …/rooms/*/send/**`, Synapse `rc_message`: 0.2/s, burst 10) and `join` (`POST …/join/*`, " +
    "`POST …/rooms/*/join`, Synapse `rc_joins.local`: 0.1/s, burst 10). See docs/rate-limits.md.",
  http: "Timeouts and body-size limits of client connections.",
  metrics: "The Prometheus endpoint, off by default.",
  log: "JSON log lines on standard output.",
};

// --- the schema, walked ------------------------------------------------------------------------------

const def = (node) => node._zod.def;

/** Wrappers that do not change what the operator writes. */
function unwrap(node) {
  let info = { optional: false, default: undefined, hasDefault: false };
  for (;;) {
    const d = def(node);
    if (d.type === "default" || d.type === "prefault") {
      if (!info.hasDefault) info = { ...info, hasDefault: true, default: d.defaultValue };
      node = d.innerType;
    } else if (d.type === "optional" || d.type === "nullable") {
      info.optional = true;
      node = d.innerType;
    } else {
      return { node, ...info };
    }
  }
}

/** Durations and sizes are strings parsed by a transform: recognised by what they accept. */
function unit(node) {
  const as = (input) => {
    const result = node.safeParse(input);
    return result.success ? result.data : undefined;
  };
  if (as("5m") === 300_000) return "duration";
  if (as("1KiB") === 1024) return "size";
  return undefined;
}

const quoteList = (values) => values.map((v) => `\`${v}\``).join(", ");

/** The type as the operator writes it; `node` is unwrapped. */
function typeOf(node) {
  const u = unit(node);
  if (u) return u;
  const d = def(node);
  switch (d.type) {
    case "pipe":
      // z.preprocess: what is written is what the target schema accepts.
      return typeOf(unwrap(def(d.in).type === "transform" ? d.out : d.in).node);
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "number": {
      const checks = (d.checks ?? []).map((check) => check._zod.def);
      const integer = checks.some((c) => c.format === "safeint" || c.format === "int32");
      let min;
      let max;
      for (const c of checks) {
        if (c.check === "greater_than") min = c.inclusive ? c.value : integer ? c.value + 1 : undefined;
        if (c.check === "less_than") max = c.inclusive ? c.value : integer ? c.value - 1 : undefined;
      }
      const base = integer ? "integer" : "number";
      if (min !== undefined && max !== undefined) return `${base} ${min}–${max}`;
      if (min !== undefined) return `${base} ≥ ${min}`;
      if (max !== undefined) return `${base} ≤ ${max}`;
      return base;
    }
    case "enum":
      return `one of ${quoteList(Object.values(d.entries))}`;
    case "literal":
      return quoteList(d.values);
    case "union":
      return d.options.map((option) => typeOf(unwrap(option).node)).join(" or ");
    case "array": {
      const item = unwrap(d.element).node;
      return def(item).type === "object" ? "list of objects" : `list of ${typeOf(item)}s`;
    }
    case "record":
      return "map: name → object";
    case "object": {
      const fields = Object.entries(d.shape).map(([key, child]) => {
        const c = unwrap(child);
        return `${key}${c.optional ? "?" : ""}: ${typeOf(c.node)}`;
      });
      return `object {${fields.join(", ")}}`;
    }
    default:
      return d.type;
  }
}

/** A default as the operator writes it in YAML. */
export function yamlValue(value) {
  if (typeof value === "string") return /^[\w./:@-]*$/.test(value) && value !== "" ? value : JSON.stringify(value);
  if (Array.isArray(value)) return value.length ? `[${value.map(yamlValue).join(", ")}]` : "[]";
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    return entries.length ? `{${entries.map(([k, v]) => `${k}: ${yamlValue(v)}`).join(", ")}}` : "{}";
  }
  return String(value);
}

/**
 * Every key of the schema: `{path, type, default, optional, hasDefault, leaf}`. Objects with a non-empty default
 * (a rate limit's `{points, duration}`) are one key, written as a whole; other objects are opened.
 */
export function schemaKeys(schema) {
  const keys = [];
  const visit = (node, at, topLevel) => {
    const u = unwrap(node);
    const d = def(u.node);
    const objectDefault = u.hasDefault && u.default && typeof u.default === "object" && !Array.isArray(u.default);
    const opens = d.type === "object" && !(objectDefault && Object.keys(u.default).length);
    const entry = { path: at, type: typeOf(u.node), optional: u.optional, hasDefault: u.hasDefault, default: u.default, leaf: true };
    if (opens) {
      if (!topLevel) keys.push({ ...entry, type: "section", leaf: false });
      for (const [key, child] of Object.entries(d.shape)) visit(child, at ? `${at}.${key}` : key, false);
      return;
    }
    keys.push(entry);
    if (d.type === "array") {
      const item = unwrap(d.element).node;
      if (def(item).type === "object") for (const [key, child] of Object.entries(def(item).shape)) visit(child, `${at}[].${key}`, false);
    } else if (d.type === "record") {
      const value = unwrap(d.valueType).node;
      if (def(value).type === "object")
        for (const [key, child] of Object.entries(def(value).shape)) visit(child, `${at}.<name>.${key}`, false);
    }
  };
  for (const [key, child] of Object.entries(def(schema).shape)) visit(child, key, true);
  return keys;
}

// --- the example file's comments ----------------------------------------------------------------------

const KEY_LINE = /^(\s*)([A-Za-z_][\w]*):(?:\s+(.*))?$/;

/** Text after `key:` that is a value (a commented-out example), not a sentence describing the key. */
const isValue = (rest) =>
  rest === undefined || rest === "" || /^[{["'$/\d~]/.test(rest) || /^(true|false|null)$/.test(rest) || !/\s/.test(rest);

/**
 * Comment blocks of config/gateway.example.yaml by dotted path. A key's block is the run of comment lines above
 * it; commented-out keys (`# audience: example.org`) count as keys, and a line `# key: sentence` opens the block
 * of that key. A commented-out key right under its parent, with no block of its own, takes the parent's (the
 * example documents `registration.enabled` and `metrics.listen` above `registration: {}` / `metrics: {}`).
 */
export function exampleComments(text, schema) {
  const known = new Set(schemaKeys(schema).map((k) => k.path));
  const comments = new Map();
  const stack = []; // live keys: {indent, path}
  let block = [];
  let lastBlock = [];
  let lastWasCommentedKey = false;
  const parentAt = (indent) => {
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    return stack.length ? stack[stack.length - 1].path : "";
  };
  const record = (keyPath, lines) => {
    if (!comments.has(keyPath) && lines.length) comments.set(keyPath, lines.join(" "));
  };

  for (const raw of text.split("\n")) {
    if (raw.trim() === "") {
      block = [];
      lastWasCommentedKey = false;
      continue;
    }
    const hash = raw.match(/^(\s*)#( *)(.*)$/);
    if (!hash) {
      const live = raw.match(KEY_LINE) ?? raw.match(/^(\s*)([A-Za-z_][\w]*):(.*)$/);
      if (!live) continue; // a list item or continuation
      const indent = live[1].length;
      const parent = parentAt(indent);
      const keyPath = parent ? `${parent}.${live[2]}` : live[2];
      record(keyPath, block);
      stack.push({ indent, path: keyPath });
      lastBlock = block.length ? block : comments.has(keyPath) ? [comments.get(keyPath)] : [];
      block = [];
      lastWasCommentedKey = false;
      continue;
    }
    const [, lead, spaces, body] = hash;
    const indent = lead.length + (spaces.length > 1 ? spaces.length : 0);
    const commented = body.match(KEY_LINE);
    if (commented && !body.startsWith("-")) {
      const parent = parentAt(indent);
      const keyPath = parent ? `${parent}.${commented[2]}` : commented[2];
      if (known.has(keyPath)) {
        const rest = commented[3];
        if (!isValue(rest)) {
          block.push(rest.charAt(0).toUpperCase() + rest.slice(1));
          continue;
        }
        const own = block.length ? block : lastWasCommentedKey || lastBlock.length ? lastBlock : [];
        record(keyPath, own);
        lastBlock = own;
        block = [];
        lastWasCommentedKey = true;
        continue;
      }
    }
    if (body.startsWith("-") || spaces.length > 1) {
      // Commented-out YAML: a sentence that introduced it ("…, on top of per_user:") now ends the sentence.
      if (block.length) block[block.length - 1] = block[block.length - 1].replace(/:$/, ".");
      continue;
    }
    block.push(body);
    lastWasCommentedKey = false;
  }
  return comments;
}

/** A sentence that introduces the commented-out default list below it has nothing to introduce here. */
const tidy = (text) => text.replace(/\s*The default is:$/, "").trim();

/** Splits a comment into the default it states (`Default 5m.`, `enabled — default: …`) and the rest. */
export function splitDefault(comment, key) {
  let text = comment.trim();
  const leadKey = new RegExp(`^${key}(?: —|:)\\s+`);
  text = text.replace(leadKey, "");
  const stated = text.match(/(^|\.\s+)[Dd]efault:?\s+(.+?)\.(?=\s|$)/);
  if (!stated) return { stated: undefined, description: tidy(text) };
  const before = text.slice(0, stated.index + stated[1].length);
  const after = text.slice(stated.index + stated[0].length).trim();
  return { stated: stated[2], description: tidy(`${before}${after}`) };
}

// --- the page ------------------------------------------------------------------------------------------

const cell = (text) => text.replaceAll("|", "\\|").replace(/\s+/g, " ").trim();
const code = (text) => (text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``);

function renderDefault(key, stated) {
  if (key.hasDefault) {
    const v = key.default;
    if (Array.isArray(v) && v.length > 3) return v.map((item) => code(String(item))).join("<br>");
    if (v && typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length && key.type === "section") return "";
    return code(yamlValue(v));
  }
  if (stated) return cell(stated);
  if (!key.optional) return "**required**";
  return "unset";
}

/** The page, and the keys that lack a description. */
export function renderConfigReference(schema, exampleText) {
  const keys = schemaKeys(schema);
  const comments = exampleComments(exampleText, schema);
  const missing = [];
  const sections = new Map();
  for (const key of keys) {
    const top = key.path.split(/[.[]/)[0];
    if (!sections.has(top)) sections.set(top, []);
    const name = key.path.split(".").pop().replace("[]", "");
    const comment = comments.get(key.path);
    const split = comment ? splitDefault(comment, name) : { stated: undefined, description: "" };
    const stated = split.stated;
    const description = split.description || EXTRA_DESCRIPTIONS[key.path] || synapseBlockDescription(key.path) || "";
    if (!description && key.leaf) missing.push(key.path);
    sections.get(top).push({ key, stated, description });
  }

  const out = [
    "# Configuration reference",
    "",
    "<!-- Generated by scripts/config-reference.mjs from src/config/schema.ts and config/gateway.example.yaml.",
    "     Do not edit by hand: run `npm run docs:config`. -->",
    "",
    "The gateway reads one YAML file: `matrix-auth-gateway --config FILE` (`npm start` uses `config/gateway.yaml`).",
    "`matrix-auth-gateway --config FILE --check` validates a file and exits; a bad file is refused before the gateway",
    "listens, with every problem printed as `FILE:LINE:COL: dotted.path: message`. Unknown keys are errors.",
    "",
    "- **Durations**: `500ms`, `30s`, `5m`, `12h`, `30d`, or a number of seconds.",
    "- **Sizes**: `512B`, `64KiB`, `10MiB`, or a number of bytes.",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the page shows the `${VAR}` syntax
    "- **Environment variables**: any string may contain `${ENV_VAR}`; an unset variable is a configuration error.",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the page shows the `${VAR}` syntax
    "  A variable may also fill a number, boolean or duration key (`port: ${GATEWAY_PORT}`).",
    "- **Paths** are relative to the configuration file's directory.",
    "- **Keys** are dotted paths: `jwt.keys[].kid` is a key of each item of the list `jwt.keys`,",
    "  `rate_limits.routes.<name>.points` a key of each entry of the map `rate_limits.routes`.",
    "",
    "`config/gateway.example.yaml` is the same reference as a file: every key with its default.",
    "",
    "## Sections",
    "",
    ...[...sections.keys()].map((top) => `- [\`${top}\`](#${top})`),
  ];
  for (const [top, rows] of sections) {
    out.push("", `## ${top}`, "");
    if (SECTION_INTROS[top]) out.push(SECTION_INTROS[top], "");
    out.push("| Key | Type | Default | Description |", "|---|---|---|---|");
    for (const { key, stated, description } of rows) {
      out.push(`| ${code(key.path)} | ${cell(key.type)} | ${renderDefault(key, stated)} | ${cell(description)} |`);
    }
  }
  out.push("");
  return { markdown: out.join("\n"), missing };
}

async function main() {
  const { configSchema } = await import("../src/config/schema.js");
  const { markdown, missing } = renderConfigReference(configSchema, fs.readFileSync(EXAMPLE, "utf8"));
  if (missing.length) {
    console.error(`no description in config/gateway.example.yaml for: ${missing.join(", ")}`);
    process.exitCode = 1;
    return;
  }
  fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
  fs.writeFileSync(OUTPUT, markdown);
  console.log(`wrote ${path.relative(process.cwd(), OUTPUT)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
