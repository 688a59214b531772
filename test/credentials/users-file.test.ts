/**
 * The `users_file` credentials source (issue 7): parsing the file, scrypt hashes, checking a login
 * (an unknown user fails exactly like a wrong password, at the same cost), re-reading the file when
 * it changes (a broken edit keeps the last good version), and the `hash-password` command.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import t, { type Test } from "tap";
import { DEFAULT_SCRYPT, hashPassword, parseHash, verifyPassword } from "../../src/credentials/password-hash.js";
import type { PasswordLogin } from "../../src/credentials/upstream-login.js";
import { openUsersFile, parseUsersFile } from "../../src/credentials/users-file.js";
import { MatrixError } from "../../src/http/errors.js";
import { createLogger } from "../../src/observability/log.js";
import { CLI, ROOT, sleep } from "../helpers/processes.js";

const SERVER = "example.org";
const NOT_A_MAPPING = "expected a mapping `users: {localpart: hash}`";

/** One hash per password, made once: scrypt at the default cost takes tens of milliseconds. */
const hashes = new Map<string, string>();
async function hashOf(password: string): Promise<string> {
  let hash = hashes.get(password);
  if (!hash) {
    hash = await hashPassword(password);
    hashes.set(password, hash);
  }
  return hash;
}

const usersYaml = async (users: Record<string, string>) =>
  `users:\n${(await Promise.all(Object.entries(users).map(async ([name, pw]) => `  ${name}: "${await hashOf(pw)}"`))).join("\n")}\n`;

const login = (localpartOrId: string, password: string): PasswordLogin => ({
  userId: localpartOrId.startsWith("@") ? localpartOrId : `@${localpartOrId}:${SERVER}`,
  password,
  deviceId: undefined,
  initialDeviceDisplayName: undefined,
});

/** A users file in a fresh directory, opened with a logger whose lines are collected; closed at teardown. */
async function openFile(t: Test, text: string) {
  const file = path.join(t.testdir({}), "users.yaml");
  fs.writeFileSync(file, text);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const users = openUsersFile(file, SERVER, createLogger("info", sink));
  t.teardown(() => users.close());
  return { file, users, logs };
}

/** Polls `check` every 100 ms until true; false after `ms` (the file watcher polls every 2 s). */
async function within(ms: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

const succeeds = (promise: Promise<unknown>) =>
  promise.then(
    () => true,
    () => false,
  );

/** The one refusal for a wrong password and an unknown user alike. */
const INVALID = { status: 403, errcode: "M_FORBIDDEN", message: "Invalid username or password" };

t.test("parseUsersFile", async (t) => {
  const alice = await hashOf("wonderland");
  const bob = await hashOf("builder");

  t.test("YAML: users by lower-cased localpart, with their parameters", async (t) => {
    const { users, problems } = parseUsersFile(`users:\n  alice: "${alice}"\n  Bob: '${bob}'\n`);
    t.same(problems, []);
    t.same([...users.keys()], ["alice", "bob"]);
    t.match(users.get("alice"), { N: 16384, r: 8, p: 1 });
    t.equal(users.get("alice")?.salt.length, 16);
    t.equal(users.get("alice")?.hash.length, 32);
  });

  t.test("JSON is YAML too", async (t) => {
    const { users, problems } = parseUsersFile(JSON.stringify({ users: { alice } }));
    t.same(problems, []);
    t.same([...users.keys()], ["alice"]);
  });

  t.test("an empty mapping is a valid file with nobody in it", async (t) => {
    const { users, problems } = parseUsersFile("users: {}\n");
    t.same(problems, []);
    t.equal(users.size, 0);
  });

  t.test("bad YAML", async (t) => {
    const { users, problems } = parseUsersFile(`users:\n  alice: "${alice}\n`);
    t.equal(users.size, 0);
    t.equal(problems.length, 1);
    t.match(problems[0], /^not YAML\/JSON: \S/);
    t.notOk(problems[0]?.includes("\n"), "one line");
  });

  const notMappings: [string, string][] = [
    ["users is a list", `users:\n  - "${alice}"\n`],
    ["users is a string", "users: alice\n"],
    ["users is null", "users:\n"],
    ["no users key", `alice: "${alice}"\n`],
    ["an empty file", ""],
    ["a JSON array", "[]"],
  ];
  for (const [name, text] of notMappings) {
    t.test(`not a mapping: ${name}`, async (t) => {
      const { users, problems } = parseUsersFile(text);
      t.same(problems, [NOT_A_MAPPING]);
      t.equal(users.size, 0);
    });
  }

  t.test("a bad hash is a problem naming its localpart; the good entries still parse", async (t) => {
    const text = `users:\n  alice: "${alice}"\n  carol: "plaintext"\n  dave: 12345\n  erin: "${bob.replace("N=16384", "N=1000")}"\n`;
    const { users, problems } = parseUsersFile(text);
    t.same(problems, [
      "users.carol: not a hash made by hash-password",
      "users.dave: not a hash made by hash-password",
      "users.erin: not a hash made by hash-password",
    ]);
    t.same([...users.keys()], ["alice"]);
  });
});

t.test("hashPassword / verifyPassword / parseHash", async (t) => {
  const hash = await hashPassword("correct horse");
  t.match(hash, /^scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/, "the documented format, default parameters");
  t.same(DEFAULT_SCRYPT, { N: 16384, r: 8, p: 1 });
  const parsed = parseHash(hash);
  if (!parsed) throw new Error("the hash does not parse");
  t.ok(await verifyPassword("correct horse", parsed), "round trip");
  t.notOk(await verifyPassword("correct horse ", parsed), "wrong password");
  t.notOk(await verifyPassword("", parsed), "empty password");
  t.not(await hashPassword("correct horse"), hash, "a new salt every time");

  t.test("other parameters travel with the hash", async (t) => {
    const cheap = await hashPassword("pw", { N: 1024, r: 4, p: 2 });
    t.match(cheap, /^scrypt\$N=1024,r=4,p=2\$/);
    const p = parseHash(cheap);
    t.match(p, { N: 1024, r: 4, p: 2 });
    t.ok(p && (await verifyPassword("pw", p)));
  });

  const [, , salt, digest] = hash.split("$") as [string, string, string, string];
  const malformed: [string, string][] = [
    ["empty", ""],
    ["another scheme", `bcrypt$N=16384,r=8,p=1$${salt}$${digest}`],
    ["parameters missing", `scrypt$N=16384,r=8$${salt}$${digest}`],
    ["parameters reordered", `scrypt$r=8,N=16384,p=1$${salt}$${digest}`],
    ["N not a power of two", `scrypt$N=1000,r=8,p=1$${salt}$${digest}`],
    ["N = 1", `scrypt$N=1,r=8,p=1$${salt}$${digest}`],
    ["N = 0", `scrypt$N=0,r=8,p=1$${salt}$${digest}`],
    ["r = 0", `scrypt$N=16384,r=0,p=1$${salt}$${digest}`],
    ["p = 0", `scrypt$N=16384,r=8,p=0$${salt}$${digest}`],
    ["negative N", `scrypt$N=-16384,r=8,p=1$${salt}$${digest}`],
    ["hash shorter than 16 bytes", `scrypt$N=16384,r=8,p=1$${salt}$${Buffer.alloc(15).toString("base64")}`],
    ["salt missing", `scrypt$N=16384,r=8,p=1$$${digest}`],
    ["not base64", `scrypt$N=16384,r=8,p=1$${salt}$${digest.replace(/^./, "!")}`],
    ["an extra field", `${hash}$extra`],
    ["surrounding space", ` ${hash}`],
    ["the password itself", "wonderland"],
  ];
  for (const [name, text] of malformed) t.equal(parseHash(text), undefined, `refused: ${name}`);
});

t.test("openUsersFile: checking a login", async (t) => {
  const { users } = await openFile(t, await usersYaml({ alice: "wonderland", Bob: "builder" }));

  const ok = await users.source(login("alice", "wonderland"));
  t.equal(ok.userId, "@alice:example.org");
  t.equal(ok.upstreamToken, "", "no homeserver token: the identity comes from appservice assertion");
  t.match(ok.deviceId, /^[A-Z]{10}$/, "a new device id, Synapse style");
  t.not((await users.source(login("alice", "wonderland"))).deviceId, ok.deviceId, "a new one every login");
  t.equal((await users.source({ ...login("alice", "wonderland"), deviceId: "MYDEVICE" })).deviceId, "MYDEVICE", "the client's own kept");

  t.equal((await users.source(login("ALICE", "wonderland"))).userId, "@alice:example.org", "localparts are case-insensitive");
  t.equal((await users.source(login("bob", "builder"))).userId, "@bob:example.org", "an upper-case key in the file too");

  await t.rejects(users.source(login("alice", "Wonderland")), INVALID, "wrong password");
  await t.rejects(users.source(login("alice", "")), INVALID, "empty password");
  await t.rejects(users.source(login("mallory", "wonderland")), INVALID, "unknown user: the same error");
  await t.rejects(users.source(login("bob", "wonderland")), INVALID, "another user's password");
  const error = await users.source(login("mallory", "x")).catch((e: unknown) => e);
  t.type(error, MatrixError);
});

t.test("an unknown user costs the same order of time as a wrong password", async (t) => {
  const { users } = await openFile(t, await usersYaml({ alice: "wonderland" }));
  const timeOf = async (attempt: PasswordLogin) => {
    const start = performance.now();
    await users.source(attempt).catch(() => undefined);
    return performance.now() - start;
  };
  const wrong: number[] = [];
  const unknown: number[] = [];
  await timeOf(login("alice", "warm-up"));
  for (let i = 0; i < 10; i++) {
    // Interleaved, so that load from other processes affects both alike.
    wrong.push(await timeOf(login("alice", `wrong${i}`)));
    unknown.push(await timeOf(login(`nobody${i}`, `wrong${i}`)));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const ratio = median(unknown) / median(wrong);
  t.comment(`median wrong password ${median(wrong).toFixed(1)} ms, unknown user ${median(unknown).toFixed(1)} ms`);
  // A broad check (one scrypt each, not zero for the unknown user), not a timing-attack test.
  t.ok(median(wrong) > 5, "a wrong password costs a real scrypt");
  t.ok(ratio > 0.5 && ratio < 2, `medians within a factor of 2 (ratio ${ratio.toFixed(2)})`);
});

t.test("a file with problems at start is refused as a whole", async (t) => {
  const file = path.join(t.testdir({}), "users.yaml");
  fs.writeFileSync(file, `users:\n  alice: "${await hashOf("wonderland")}"\n  carol: nope\n`);
  t.throws(() => openUsersFile(file, SERVER, createLogger("silent")), {
    message: `${file}: users.carol: not a hash made by hash-password`,
  });
  t.throws(() => openUsersFile(path.join(path.dirname(file), "missing.yaml"), SERVER, createLogger("silent")), { code: "ENOENT" });
});

t.test("the file is re-read after an edit; a broken edit keeps the last good version", async (t) => {
  const { file, users, logs } = await openFile(t, await usersYaml({ alice: "wonderland" }));
  await t.rejects(users.source(login("carol", "cat")), INVALID, "carol is not in the file yet");

  fs.writeFileSync(file, await usersYaml({ alice: "wonderland", carol: "cat" }));
  t.ok(await within(5000, () => succeeds(users.source(login("carol", "cat")))), "carol can log in within 5 s");
  t.match(
    logs.find((l) => l.msg === "users file reloaded"),
    { level: "info", file, users: 2 },
    "the reload is logged",
  );

  fs.writeFileSync(file, 'users:\n  alice: "oops\n');
  t.ok(
    await within(5000, () => logs.some((l) => l.msg === "users file refused: the last good version is kept")),
    "the broken edit is noticed within 5 s",
  );
  const refused = logs.find((l) => l.msg === "users file refused: the last good version is kept");
  t.match(refused, { level: "error", file, problems: [/^not YAML\/JSON: /] }, "logged as an error");
  t.equal((await users.source(login("carol", "cat"))).userId, "@carol:example.org", "the last good users still log in");
  t.equal((await users.source(login("alice", "wonderland"))).userId, "@alice:example.org");
  t.notOk(JSON.stringify(logs).includes("scrypt$"), "no hash is logged");

  // Removing a user takes effect the same way.
  fs.writeFileSync(file, await usersYaml({ alice: "wonderland" }));
  t.ok(await within(5000, async () => !(await succeeds(users.source(login("carol", "cat"))))), "carol is gone within 5 s");
});

t.test("hash-password command", async (t) => {
  t.before(() => {
    t.ok(fs.existsSync(CLI), "the build exists (npm run build)");
  });
  const run = (args: string[], input: string) =>
    spawnSync(process.execPath, [CLI, "hash-password", ...args], { cwd: ROOT, input, encoding: "utf8", timeout: 60_000 });

  t.test("--user prints a ready users-file line whose hash verifies", async (t) => {
    const done = run(["--user", "bob"], "pw");
    t.equal(done.status, 0, done.stderr);
    t.match(done.stdout, /^ {2}bob: "scrypt\$N=16384,r=8,p=1\$[^"$]+\$[^"$]+"\n$/);
    const hash = /"(.*)"/.exec(done.stdout)?.[1] as string;
    const parsed = parseHash(hash);
    t.ok(parsed && (await verifyPassword("pw", parsed)), "the printed hash verifies the password");
    t.ok(parsed && !(await verifyPassword("pw\n", parsed)));
    // The line pasted under `users:` is a valid users file.
    const { users, problems } = parseUsersFile(`users:\n${done.stdout}`);
    t.same(problems, []);
    t.same([...users.keys()], ["bob"]);
  });

  t.test("one trailing newline (echo without -n) is not part of the password", async (t) => {
    const done = run([], "pw\n");
    t.equal(done.status, 0, done.stderr);
    t.match(done.stdout, /^scrypt\$[^\n]+\n$/, "just the hash without --user");
    const parsed = parseHash(done.stdout.trim());
    t.ok(parsed && (await verifyPassword("pw", parsed)));
  });

  for (const [name, input] of [
    ["empty", ""],
    ["only a newline", "\n"],
  ] as const) {
    t.test(`${name} stdin: exit 2`, async (t) => {
      const done = run(["--user", "bob"], input);
      t.equal(done.status, 2);
      t.equal(done.stdout, "");
      t.equal(done.stderr, "hash-password: no password on standard input\n");
    });
  }
});
