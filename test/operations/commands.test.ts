/**
 * The CLI's short-lived subcommands (docs/operations.md): `gen-secret`, `gen-keys`, `check-config`,
 * `--help` on each, and argument errors of `sessions`. (The long-running ones — signals, and `sessions`
 * against a running gateway — are in signals.test.ts.)
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import t from "tap";
import { parseConfig } from "../../src/config/load.js";
import { buildOnce, runCli } from "../helpers/processes.js";

const ALICE = "@alice:example.org";

t.before(buildOnce);

/** A valid config (nothing is started from it: the upstream and port are never used). */
function configText(dir: string, tokens = "{access_ttl: 5m}"): string {
  return [
    "server_name: example.org",
    "listen: {host: 127.0.0.1, port: 8080}",
    'upstream: {url: "http://127.0.0.1:9"}',
    'jwt: {secret: "commands-test-secret-that-is-at-least-32-bytes"}',
    `tokens: ${tokens}`,
    `store: {type: sqlite, path: "${path.join(dir, "gateway.sqlite")}"}`,
    "",
  ].join("\n");
}

t.test("gen-secret prints 64 base64url characters, different each time", async (t) => {
  const one = await runCli(["gen-secret"]);
  const two = await runCli(["gen-secret"]);
  t.equal(one.code, 0);
  t.match(one.stdout, /^[A-Za-z0-9_-]{64}\n$/);
  t.equal(Buffer.from(one.stdout.trim(), "base64url").length, 48, "48 random bytes");
  t.not(one.stdout, two.stdout);
});

t.test("gen-keys --out DIR writes an EC P-256 key pair and never overwrites it", async (t) => {
  const dir = path.join(t.testdir({}), "keys");
  const made = await runCli(["gen-keys", "--out", dir]);
  t.equal(made.code, 0, made.stderr);
  const privatePath = path.join(dir, "private.pem");
  const publicPath = path.join(dir, "public.pem");
  t.equal(made.stdout, `wrote ${privatePath} and ${publicPath}\n`);
  t.equal(fs.statSync(privatePath).mode & 0o777, 0o600, "the private key is readable by its owner only");

  const privateKey = crypto.createPrivateKey(fs.readFileSync(privatePath));
  const publicKey = crypto.createPublicKey(fs.readFileSync(publicPath));
  t.equal(privateKey.asymmetricKeyType, "ec");
  t.equal(privateKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  t.equal(publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  const signature = crypto.sign("sha256", Buffer.from("hello"), privateKey);
  t.ok(crypto.verify("sha256", Buffer.from("hello"), publicKey, signature), "the two halves belong together");

  const before = fs.readFileSync(privatePath, "utf8");
  const again = await runCli(["gen-keys", "--out", dir]);
  t.equal(again.code, 1);
  t.match(again.stderr, /^gen-keys: .*EEXIST.*\(an existing key is never overwritten\)\n$/);
  t.equal(fs.readFileSync(privatePath, "utf8"), before, "the existing key is untouched");
});

t.test("gen-keys --rsa --out DIR writes an RSA key that oauth.signing_key_file accepts", async (t) => {
  const dir = path.join(t.testdir({}), "keys");
  const made = await runCli(["gen-keys", "--rsa", "--out", dir]);
  t.equal(made.code, 0, made.stderr);
  const privatePath = path.join(dir, "private.pem");
  t.equal(fs.statSync(privatePath).mode & 0o777, 0o600);
  const privateKey = crypto.createPrivateKey(fs.readFileSync(privatePath));
  t.equal(privateKey.asymmetricKeyType, "rsa");
  t.equal(privateKey.asymmetricKeyDetails?.modulusLength, 3072);
  const config = parseConfig(
    `server_name: example.org\njwt: {secret: "${"s".repeat(32)}"}\nstore: {type: memory}\npublic_baseurl: https://matrix.example.org\noauth: {enabled: true, signing_key_file: ${privatePath}}`,
    path.join(dir, "gateway.yaml"),
  );
  t.equal(config.oauth.signing_key?.privateKey.asymmetricKeyType, "rsa");
  t.same(config.warnings, [], "written 0600: no permission warning");
});

t.test("gen-keys without --out prints both keys", async (t) => {
  const printed = await runCli(["gen-keys"]);
  t.equal(printed.code, 0);
  t.match(
    printed.stdout,
    /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/,
  );
});

t.test("--help on every subcommand exits 0 with its usage", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--help"], /^Usage: matrix-auth-gateway \[COMMAND\] \[OPTIONS\]\n[\s\S]*check-config[\s\S]*gen-keys/],
    [["run", "--help"], /^Usage: matrix-auth-gateway \[run\] \[--config FILE\] \[--check\]\n/],
    [["check-config", "--help"], /^Usage: matrix-auth-gateway check-config /],
    [["sessions", "--help"], /^Usage: matrix-auth-gateway sessions list\|revoke [\s\S]*--user VALUE[\s\S]*--session VALUE/],
    [["gen-secret", "--help"], /^Usage: matrix-auth-gateway gen-secret\n/],
    [["gen-keys", "-h"], /^Usage: matrix-auth-gateway gen-keys \[--rsa\] \[--out DIR\]\n[\s\S]*--out VALUE[\s\S]*--rsa/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  cases.forEach(([args, usage], i) => {
    t.equal(results[i]?.code, 0, args.join(" "));
    t.match(results[i]?.stdout, usage, args.join(" "));
  });
});

t.test("sessions with a wrong combination of arguments exits 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [["sessions"], /say `list`, `revoke` or `copy`/],
    [["sessions", "purge", "--user", ALICE], /say `list`, `revoke` or `copy`/],
    [["sessions", "list"], /--user is required/],
    [["sessions", "list", "--session", "abc"], /--user is required/],
    [["sessions", "revoke"], /exactly one of --user and --session/],
    [["sessions", "revoke", "--user", ALICE, "--session", "abc"], /exactly one of --user and --session/],
    [["sessions", "list", "--user"], /argument missing/],
    [["sessions", "copy"], /give --from OLD_CONFIG/],
    [["sessions", "copy", "--from", "old.yaml", "--user", ALICE], /give --from OLD_CONFIG/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  cases.forEach(([args, message], i) => {
    t.equal(results[i]?.code, 2, args.join(" "));
    t.match(results[i]?.stderr, message, args.join(" "));
  });
});

t.test("sessions copy refuses the same store twice and the memory store; warns when the JWT keys differ", async (t) => {
  const dir = t.testdir({});
  const write = (name: string, store: string, secret = "copy-command-secret-of-at-least-32-bytes") => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `server_name: example.org\njwt: {secret: "${secret}"}\nstore: ${store}\n`);
    return file;
  };
  const a = write("a.yaml", `{type: sqlite, path: "${path.join(dir, "a.sqlite")}"}`);
  const aAgain = write("a-again.yaml", `{type: sqlite, path: "${path.join(dir, "a.sqlite")}"}`);
  const b = write("b.yaml", `{type: sqlite, path: "${path.join(dir, "b.sqlite")}"}`);
  const otherKey = write("c.yaml", `{type: sqlite, path: "${path.join(dir, "c.sqlite")}"}`, "another-secret-of-at-least-32-bytes-long");
  const memory = write("m.yaml", "{type: memory}");

  const same = await runCli(["sessions", "copy", "--from", a, "--config", aAgain]);
  t.equal(same.code, 2);
  t.equal(same.stderr, `sessions copy: both files name the same store (sqlite ${path.join(dir, "a.sqlite")})\n`);
  const fromMemory = await runCli(["sessions", "copy", "--from", memory, "--config", b]);
  t.equal(fromMemory.code, 1);
  t.match(fromMemory.stderr, /memory store lives inside a running gateway/);
  const empty = await runCli(["sessions", "copy", "--from", a, "--config", b]);
  t.equal(empty.code, 0, empty.stderr);
  t.equal(
    empty.stdout,
    `copied 0 sessions from sqlite ${path.join(dir, "a.sqlite")} to sqlite ${path.join(dir, "b.sqlite")}; left 0 already there and 0 past their limits\n`,
  );
  t.equal(empty.stderr, "", "same keys: no warning");
  const warned = await runCli(["sessions", "copy", "--from", a, "--config", otherKey]);
  t.equal(warned.code, 0);
  t.match(warned.stderr, /^sessions copy: warning: the two files have different JWT keys/);
  t.notMatch(warned.stderr, /copy-command-secret|another-secret/, "no secret in the message");
});

t.test("check-config: 0 on a valid file, 2 with every problem on an invalid one", async (t) => {
  const dir = t.testdir({});
  const good = path.join(dir, "good.yaml");
  fs.writeFileSync(good, configText(dir));
  const ok = await runCli(["check-config", "--config", good]);
  t.equal(ok.code, 0);
  t.equal(ok.stdout, `${good}: configuration is valid\n`);

  const bad = path.join(dir, "bad.yaml");
  fs.writeFileSync(bad, configText(dir, "{access_ttl: soon, refresh_tll: 1d}"));
  const refused = await runCli(["check-config", "--config", bad]);
  t.equal(refused.code, 2);
  t.same(refused.stderr.trimEnd().split("\n").sort(), [
    `${bad}:5:10: tokens.access_ttl: not a duration: "soon" (use e.g. 500ms, 30s, 5m, 12h, 30d)`,
    `${bad}:5:28: tokens.refresh_tll: unknown key "refresh_tll" (did you mean "refresh_ttl"?)`,
  ]);
  t.notOk(fs.existsSync(path.join(dir, "gateway.sqlite")), "checking opens no store");
});
