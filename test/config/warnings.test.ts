/**
 * Operator mistakes are loud (issue 15, part 6): a secret or key file readable by group or others, and a
 * `trusted_proxies` entry that trusts every address, are warnings with the key's line and column —
 * printed by `--check` and `check-config` on stderr (exit status 0), logged at start-up (cli test below).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import t, { type Test } from "tap";
import { checkConfigCommand } from "../../src/commands/check-config.js";
import { runCommand } from "../../src/commands/run.js";
import { parseConfig } from "../../src/config/load.js";
import { formatWarning } from "../../src/config/warnings.js";
import { freePort } from "../helpers/http.js";
import { buildOnce, startCli } from "../helpers/processes.js";

const SECRET = "warnings-test-secret-at-least-32-bytes!";

/** Writes `name` in `dir` with `mode` (chmod after writing: the umask does not decide). */
function secretFile(dir: string, name: string, content: string, mode: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  return file;
}

/** The upstream-login form: jwt.secret_file, store.encryption_key_file, trusted_proxies. */
function upstreamConfig(dir: string, modes: { jwt: number; store: number }, proxies: string[]): string {
  secretFile(dir, "jwt.secret", SECRET, modes.jwt);
  secretFile(dir, "store.key", SECRET, modes.store);
  return [
    "server_name: example.org",
    "listen: {host: 127.0.0.1, port: 0}",
    "jwt:",
    "  secret_file: jwt.secret",
    "store:",
    "  type: memory",
    "  encryption_key_file: store.key",
    `trusted_proxies: [${proxies.join(", ")}]`,
    "",
  ].join("\n");
}

t.test("file modes: group or other bits warn, 0600 and 0400 do not", async (t) => {
  const rows: { mode: number; warns: boolean }[] = [
    { mode: 0o600, warns: false },
    { mode: 0o400, warns: false },
    { mode: 0o640, warns: true },
    { mode: 0o604, warns: true },
    { mode: 0o644, warns: true },
    { mode: 0o620, warns: true }, // writable by the group: it can replace the secret
  ];
  for (const row of rows) {
    const dir = t.testdir({});
    const file = path.join(dir, "gateway.yaml");
    const config = parseConfig(upstreamConfig(dir, { jwt: row.mode, store: 0o600 }, []), file);
    const mode = `0${row.mode.toString(8)}`;
    if (!row.warns) {
      t.same(config.warnings, [], `${mode}: no warning`);
      continue;
    }
    t.same(
      config.warnings,
      [
        {
          line: 4,
          col: 3,
          path: "jwt.secret_file",
          message: `jwt.secret is readable by group or others (mode ${mode}): chmod 600 it`,
          file: path.join(dir, "jwt.secret"),
        },
      ],
      `${mode}: warned at the key`,
    );
  }
});

t.test("every secret-file key is checked, each at its own line", async (t) => {
  const dir = t.testdir({});
  const pair = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  secretFile(dir, "es.pem", pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o644);
  secretFile(dir, "hs.secret", SECRET, 0o640);
  secretFile(dir, "store.key", SECRET, 0o604);
  secretFile(dir, "as.token", "as-token-value", 0o644);
  secretFile(dir, "users.yaml", "users: {}\n", 0o644);
  const text = [
    "server_name: example.org",
    "jwt:",
    "  keys:",
    "    - {kid: es, algorithm: ES256, private_key_file: es.pem}",
    "    - {kid: hs, algorithm: HS256, secret_file: hs.secret}",
    "  signing_key: es",
    "store: {type: memory, encryption_key_file: store.key}",
    "credentials: {source: users_file, users_file: users.yaml}",
    "upstream_identity: {mode: appservice, as_token_file: as.token}",
    "",
  ].join("\n");
  const config = parseConfig(text, path.join(dir, "gateway.yaml"));
  t.same(
    config.warnings.map((w) => [w.path, w.line, w.file]),
    [
      ["store.encryption_key_file", 7, path.join(dir, "store.key")],
      ["upstream_identity.as_token_file", 9, path.join(dir, "as.token")],
      ["credentials.users_file", 8, path.join(dir, "users.yaml")],
      ["jwt.keys.0.private_key_file", 4, path.join(dir, "es.pem")],
      ["jwt.keys.1.secret_file", 5, path.join(dir, "hs.secret")],
    ],
  );
  for (const warning of config.warnings) t.notOk(warning.message.includes(SECRET), "never the contents");
});

t.test("trusted_proxies: a /0 prefix trusts every address", async (t) => {
  const dir = t.testdir({});
  const proxies = ["10.0.0.0/8", "0.0.0.0/0", "::/0", "fd00::/8", "192.0.2.1/0", "127.0.0.1"];
  const config = parseConfig(upstreamConfig(dir, { jwt: 0o600, store: 0o600 }, proxies), path.join(dir, "gateway.yaml"));
  t.same(
    config.warnings.map((w) => [w.path, w.line]),
    [
      ["trusted_proxies.1", 8],
      ["trusted_proxies.2", 8],
      ["trusted_proxies.4", 8],
    ],
  );
  t.match(config.warnings[0]?.message, /^0\.0\.0\.0\/0 trusts every address: every client can then choose its own address/);
});

t.test("--check and check-config: one stderr line per warning, FILE:LINE:COL: path: warning: message; exit 0", async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, "gateway.yaml");
  fs.writeFileSync(file, upstreamConfig(dir, { jwt: 0o644, store: 0o600 }, ["0.0.0.0/0"]));
  const expected = [
    `${file}:4:3: jwt.secret_file: warning: jwt.secret is readable by group or others (mode 0644): chmod 600 it`,
    `${file}:8:19: trusted_proxies.0: warning: 0.0.0.0/0 trusts every address: every client can then choose its own address (X-Forwarded-For), and with it its rate limits`,
  ];
  const run = async (t: Test, main: () => Promise<number>, out: string[], err: string[]) => {
    t.equal(await main(), 0, "exit status 0");
    t.same(err.join("").split("\n").filter(Boolean), expected, "the warnings on stderr");
    t.same(out, [`${file}: configuration is valid\n`]);
  };
  for (const [name, command, values] of [
    ["run --check", runCommand, { config: file, check: true }],
    ["check-config", checkConfigCommand, { config: file }],
  ] as const) {
    t.test(name, async (t) => {
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
      await run(t, () => command.main(values, io, []), out, err);
    });
  }
  t.equal(formatWarning("f", { line: 1, col: 2, path: "", message: "m" }), "f:1:2: (root): warning: m");
});

t.test("start-up logs each warning with the key and the file, never the contents", async (t) => {
  buildOnce();
  const dir = t.testdir({});
  const port = await freePort();
  const text = upstreamConfig(dir, { jwt: 0o640, store: 0o600 }, ["::/0"]).replace("port: 0", `port: ${port}`);
  const gw = await startCli(t, dir, port, text);
  const lines = gw.lines.filter((l) => l.event === "config_warning");
  t.match(lines, [
    { level: "warn", key: "jwt.secret_file", file: path.join(dir, "jwt.secret"), msg: /readable by group or others \(mode 0640\)/ },
    { level: "warn", key: "trusted_proxies.0", msg: /^::\/0 trusts every address/ },
  ]);
  t.equal(lines.length, 2);
  t.notOk(JSON.stringify(gw.lines).includes(SECRET), "the secret is in no log line");
  gw.child.kill("SIGTERM");
  await gw.exited;
});
