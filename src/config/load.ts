/**
 * Reads the YAML file, substitutes `${ENV}`, validates it against the schema and reads the secrets.
 * Every problem is collected with its position, so an operator fixes the file in one pass:
 * `FILE:LINE:COL: dotted.path: message`.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { LineCounter, parseDocument, visit } from "yaml";
import type { z } from "zod";
import { parseUsersFile } from "../credentials/users-file.js";
import { DEFAULT_ROUTE_CLASSES } from "./defaults.js";
import { parseDuration } from "./duration.js";
import { MIN_SECRET_BYTES, readJwtKeys } from "./jwt-keys.js";
import { issueMessage, unknownKeyMessage, valueAt } from "./messages.js";
import { readOAuthSigningKey } from "./oauth.js";
import { type Config, configSchema, type ParsedConfig, type RouteClass } from "./schema.js";
import { type ConfigWarning, collectWarnings } from "./warnings.js";
import { dottedPath, keyPathAt, offsetOf } from "./yaml-positions.js";

export interface ConfigProblem {
  line: number;
  col: number;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join("\n"));
    this.name = "ConfigError";
  }
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  // One problem per line, even when a key (a YAML collection used as a key) or a message spans several.
  const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ");
  return `${file}:${problem.line}:${problem.col}: ${oneLine(problem.path) || "(root)"}: ${oneLine(problem.message)}`;
}

export interface LoadOptions {
  /** Environment used for `${VAR}` substitution. */
  env?: NodeJS.ProcessEnv;
  /** Create `jwt.secret_file` when `jwt.create_secret_file` is set and the file is missing (not for --check). */
  createMissingSecret?: boolean;
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const STORE_KEY_INFO = "matrix-auth-gateway upstream-credential encryption";

/** Loads and validates a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    // Node's message ends with the system call and the path (", open '/etc/…'"): the line names the file already.
    const reason = (error as Error).message.replace(/, \w+( '.*')?$/, "");
    throw new ConfigError(file, [{ line: 1, col: 1, path: "", message: `cannot read file: ${reason}` }]);
  }
  return parseConfig(text, file, options);
}

/** Validates config text; `file` names it in messages and anchors relative paths. */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined, dotted: string, message: string): ConfigProblem => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, col: pos.col, path: dotted, message };
  };

  const problems: ConfigProblem[] = doc.errors.map((e) =>
    at(e.pos[0], e.code === "DUPLICATE_KEY" ? keyPathAt(doc, e.pos[0]) : "", e.message.split("\n")[0] ?? e.message),
  );
  if (problems.length) throw new ConfigError(file, problems);

  visit(doc, {
    Scalar(_key, node, ancestry) {
      if (typeof node.value !== "string" || !node.value.includes("${")) return;
      node.value = node.value.replace(ENV_REFERENCE, (_match, name: string) => {
        const value = env[name];
        if (value === undefined) {
          problems.push(at(node.range?.[0], dottedPath([...ancestry, node]), `environment variable ${name} is not set`));
          return "";
        }
        return value;
      });
    },
  });

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // An alias without its anchor, or an alias bomb past yaml's maxAliasCount.
    throw new ConfigError(file, [at(0, "", (error as Error).message)]);
  }
  // An unset variable leaves an empty string behind: checking what it fed would only report the same problem again.
  const substitutionFailed = problems.length > 0;
  const parsed = configSchema.safeParse(data ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const keys = issue.code === "unrecognized_keys" ? issue.keys : [undefined];
      for (const key of keys) {
        const issuePath = key === undefined ? issue.path : [...issue.path, key];
        const message = key === undefined ? issueMessage(issue, valueAt(data, issue.path)) : unknownKeyMessage(key, issue.path);
        problems.push(at(offsetOf(doc, issuePath), issuePath.join("."), message));
      }
    }
  }
  const baseDir = path.dirname(path.resolve(file));
  const problem = (keyPath: (string | number)[], message: string) => problems.push(at(offsetOf(doc, keyPath), keyPath.join("."), message));
  if (!parsed.success && !substitutionFailed) {
    // Every problem in one pass: the sections that did parse still get the checks between their values and
    // of their secrets (a short jwt.secret is reported beside a mistyped port). Nothing is created then.
    const sections = parsedSections(data ?? {});
    checkSemantics(sections.config, baseDir, false, problem, sections.has);
    throw new ConfigError(file, problems);
  }
  if (problems.length || !parsed.success) throw new ConfigError(file, problems);

  const config = parsed.data;
  const { routes, identity, keySet, encryptionKey, oauth } = checkSemantics(config, baseDir, options.createMissingSecret ?? false, problem);
  if (problems.length || !routes || !identity || !keySet || !encryptionKey) throw new ConfigError(file, problems);
  const warnings: ConfigWarning[] = [];
  collectWarnings(config, baseDir, (keyPath, message, about) => {
    const { line, col } = at(offsetOf(doc, keyPath), "", message);
    warnings.push({ line, col, path: keyPath.join("."), message, ...(about === undefined ? {} : { file: about }) });
  });

  const { secret: _s, secret_file: _f, keys: _keys, signing_key: _sk, ...jwt } = config.jwt;
  const { encryption_key: _k, encryption_key_file: _kf, ...store } = config.store;
  return {
    ...config,
    rate_limits: { ...config.rate_limits, ...withSynapseBlocks(config.rate_limits), routes },
    credentials: {
      ...config.credentials,
      users_file: config.credentials.users_file === undefined ? undefined : path.resolve(baseDir, config.credentials.users_file),
    },
    upstream_identity: identity.upstreamIdentity,
    registration: identity.registration,
    jwt: { ...jwt, secret: keySet.secret, keys: keySet.keys, signing_kid: keySet.signingKid, audience: jwt.audience ?? config.server_name },
    store: { ...store, path: path.resolve(baseDir, store.path), encryption_key: encryptionKey },
    oauth: { ...config.oauth, signing_key: oauth },
    source: file,
    warnings,
  };
}

type Report = (keyPath: (string | number)[], message: string) => void;
type Section = keyof ParsedConfig;

/**
 * The top-level sections of a file that failed the schema, each parsed on its own: `config` holds those that
 * parse (defaults included), `has` tells which. Only checks whose sections all parsed are run on it.
 */
function parsedSections(data: unknown): { config: ParsedConfig; has: (section: Section) => boolean } {
  const raw = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  const config: Partial<Record<Section, unknown>> = {};
  const ok = new Set<Section>();
  for (const [name, schema] of Object.entries(configSchema.shape) as [Section, z.ZodType][]) {
    const result = schema.safeParse(raw[name]);
    if (!result.success) continue;
    config[name] = result.data;
    ok.add(name);
  }
  return { config: config as ParsedConfig, has: (section) => ok.has(section) };
}

/**
 * Everything the schema cannot see: values that must fit together, the identity modes, route classes and the
 * secrets. With `has`, only the checks whose sections parsed are run (the file failed the schema elsewhere).
 */
function checkSemantics(
  config: ParsedConfig,
  baseDir: string,
  createMissingSecret: boolean,
  problem: Report,
  has: (section: Section) => boolean = () => true,
) {
  const all = (...sections: Section[]) => sections.every(has);
  checkRelations(config, problem, all);
  const routes = all("rate_limits") ? routeClasses(config.rate_limits, problem) : undefined;
  const identity = all("credentials", "upstream_identity", "registration") ? checkIdentity(config, baseDir, problem) : undefined;
  const keySet = all("jwt") ? readJwtKeys(config.jwt, baseDir, createMissingSecret, problem) : undefined;
  // An explicit store key is checked even when the JWT keys are wrong: every problem in one pass.
  const explicitStoreKey = all("store") && (config.store.encryption_key !== undefined || config.store.encryption_key_file !== undefined);
  const encryptionKey =
    all("store") && (keySet || explicitStoreKey) ? readEncryptionKey(config, baseDir, keySet?.secret, problem) : undefined;
  const oauth = all("oauth", "public_baseurl") ? readOAuthSigningKey(config, baseDir, problem) : undefined;
  return { routes, identity, keySet, encryptionKey, oauth };
}

function checkRelations(config: ParsedConfig, problem: Report, all: (...sections: Section[]) => boolean): void {
  const t = config.tokens;
  if (all("tokens")) {
    if (t.access_ttl <= 0) problem(["tokens", "access_ttl"], "must be longer than 0s");
    if (t.nonrefreshable_access_ttl <= 0) problem(["tokens", "nonrefreshable_access_ttl"], "must be longer than 0s");
    if (t.refresh_ttl <= 0) problem(["tokens", "refresh_ttl"], "must be longer than 0s");
    if (t.session_max_age < t.access_ttl) problem(["tokens", "session_max_age"], "must not be shorter than tokens.access_ttl");
    if (t.refresh_reuse_grace >= t.refresh_ttl) {
      problem(["tokens", "refresh_reuse_grace"], "must be shorter than tokens.refresh_ttl");
    }
  }
  if (all("workers", "store") && config.workers !== 1 && config.store.type === "memory") {
    problem(["workers"], "several workers need a shared store: store.type sqlite or redis");
  }
  if (all("upstream") && config.upstream.timeout <= 0) problem(["upstream", "timeout"], "must be longer than 0s");
  if (all("http")) {
    if (config.http.headers_timeout <= 0) problem(["http", "headers_timeout"], "must be longer than 0s");
    if (config.http.request_timeout < config.http.headers_timeout) {
      problem(["http", "request_timeout"], "must not be shorter than http.headers_timeout");
    }
  }
}

/**
 * Credentials source, upstream identity and registration must fit together: a users file has no
 * homeserver token to swap in (so it needs appservice identity), and the homeserver's own login gives
 * one (so it goes with session_token); wrapping registrations needs a homeserver token too.
 */
function checkIdentity(config: ParsedConfig, baseDir: string, problem: Report) {
  const { source, users_file } = config.credentials;
  const { as_token, as_token_file, ...mode } = config.upstream_identity;
  if (source === "users_file") {
    if (users_file === undefined) problem(["credentials", "users_file"], "credentials.source users_file needs credentials.users_file");
    else if (!fs.existsSync(path.resolve(baseDir, users_file))) problem(["credentials", "users_file"], `no such file: ${users_file}`);
    else {
      // A broken users file is a config problem (--check, start, SIGHUP), not a crash when the gateway opens it.
      let text: string | undefined;
      try {
        text = fs.readFileSync(path.resolve(baseDir, users_file), "utf8");
      } catch (error) {
        problem(["credentials", "users_file"], `cannot read: ${(error as Error).message}`);
      }
      if (text !== undefined) {
        for (const message of parseUsersFile(text).problems) problem(["credentials", "users_file"], `${users_file}: ${message}`);
      }
    }
    if (mode.mode !== "appservice") {
      problem(
        ["upstream_identity", "mode"],
        "credentials.source users_file gives no homeserver token: use upstream_identity.mode appservice",
      );
    }
  } else if (mode.mode === "appservice") {
    problem(
      ["upstream_identity", "mode"],
      "appservice identity goes with credentials.source users_file (the homeserver's own login would leave unused devices)",
    );
  }
  if (mode.devices && mode.mode !== "appservice") {
    problem(["upstream_identity", "devices"], "devices are logged in through the appservice: use upstream_identity.mode appservice");
  }
  let asToken = as_token;
  if (mode.mode === "appservice") {
    if ((as_token === undefined) === (as_token_file === undefined)) {
      problem(["upstream_identity"], "appservice identity needs exactly one of as_token and as_token_file");
    } else if (as_token_file !== undefined) {
      try {
        asToken = fs.readFileSync(path.resolve(baseDir, as_token_file), "utf8").trim();
      } catch (error) {
        problem(["upstream_identity", "as_token_file"], `cannot read: ${(error as Error).message}`);
      }
    }
  }
  const enabled = config.registration.enabled ?? mode.mode === "session_token";
  if (enabled && mode.mode === "appservice") {
    problem(["registration", "enabled"], "registration through the gateway needs upstream_identity.mode session_token");
  }
  return { upstreamIdentity: { ...mode, as_token: asToken }, registration: { enabled } };
}

/** The built-in route classes (send, join) merged with the operator's; a class without `match` must be built in. */
function routeClasses(synapse: ParsedConfig["rate_limits"], problem: Report): Record<string, RouteClass> {
  const configured = synapse.routes;
  const merged: Record<string, RouteClass> = {};
  for (const [name, builtIn] of Object.entries(DEFAULT_ROUTE_CLASSES)) {
    merged[name] =
      "per_second" in builtIn
        ? { match: builtIn.match, per_second: builtIn.per_second, burst_count: builtIn.burst_count }
        : {
            match: builtIn.match,
            points: builtIn.points,
            duration: parseDuration(builtIn.duration) as number,
            block: builtIn.block === undefined ? undefined : parseDuration(builtIn.block),
          };
  }
  for (const [name, value] of Object.entries(configured)) {
    const match = value.match ?? merged[name]?.match;
    if (!match) {
      problem(
        ["rate_limits", "routes", name],
        `unknown route class "${name}": built-in classes are ${Object.keys(DEFAULT_ROUTE_CLASSES).join(", ")}; give a new class a match list`,
      );
      continue;
    }
    merged[name] =
      value.per_second !== undefined
        ? { match, per_second: value.per_second, burst_count: value.burst_count }
        : { match, points: value.points, duration: value.duration, block: value.block };
  }
  // Synapse's own blocks, as pasted from homeserver.yaml (schema.ts: what maps onto what).
  if (synapse.rc_message) merged.send = { match: (merged.send as RouteClass).match, ...synapse.rc_message };
  if (synapse.rc_joins?.local) merged.join = { match: (merged.join as RouteClass).match, ...synapse.rc_joins.local };
  return merged;
}

/** The login and registration limits with Synapse's `rc_login` / `rc_registration` blocks applied. */
function withSynapseBlocks(limits: ParsedConfig["rate_limits"]): Pick<ParsedConfig["rate_limits"], "login" | "registration"> {
  const { rc_login, rc_registration } = limits;
  return {
    login: {
      ...limits.login,
      per_address: rc_login?.address ?? limits.login.per_address,
      per_account: rc_login?.account ?? limits.login.per_account,
      failed_per_account: rc_login?.failed_attempts ?? limits.login.failed_per_account,
    },
    registration: { per_address: rc_registration ?? limits.registration.per_address },
  };
}

/**
 * The AES-256-GCM key for upstream credentials at rest: HKDF of `store.encryption_key`, or of the
 * JWT secret when none is set (then changing the JWT secret logs every session out).
 */
function readEncryptionKey(config: ParsedConfig, baseDir: string, jwtSecret: Buffer | undefined, problem: Report): Buffer | undefined {
  const { encryption_key, encryption_key_file } = config.store;
  if (encryption_key !== undefined && encryption_key_file !== undefined) {
    problem(["store"], "set at most one of store.encryption_key and store.encryption_key_file");
    return undefined;
  }
  let material: Buffer | undefined = jwtSecret;
  if (encryption_key !== undefined) material = Buffer.from(encryption_key, "utf8");
  if (encryption_key_file !== undefined) {
    try {
      material = Buffer.from(fs.readFileSync(path.resolve(baseDir, encryption_key_file), "utf8").replace(/\r?\n$/, ""), "utf8");
    } catch (error) {
      problem(["store", "encryption_key_file"], `cannot read key file: ${(error as Error).message}`);
      return undefined;
    }
  }
  if (!material) {
    // jwt.keys has no single secret to derive from; a memory store keeps nothing at rest.
    if (config.store.type === "memory") return Buffer.alloc(32); // never used: nothing is sealed
    problem(["store", "encryption_key"], "set store.encryption_key or store.encryption_key_file when jwt.keys is used");
    return undefined;
  }
  if (material.length < MIN_SECRET_BYTES) {
    problem(
      ["store", encryption_key !== undefined ? "encryption_key" : "encryption_key_file"],
      `must be at least ${MIN_SECRET_BYTES} bytes`,
    );
    return undefined;
  }
  return Buffer.from(crypto.hkdfSync("sha256", material, Buffer.alloc(0), STORE_KEY_INFO, 32));
}
