/**
 * The command line (contract "Command line"): `--help`, `--version`, `--check`, a bad config exits non-zero
 * before listening with every problem as `FILE:LINE:COL: dotted.path: message`, GET /health once
 * listening, SIGTERM finishes in-flight requests and exits 0, `npm start` / `bin` point at the build.
 * What ends by itself runs in this process through `main` (runCli); only what must be signalled, or must be
 * a program of its own, is a child process, with deadlines that bound a hang rather than measure speed.
 */
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import t from "tap";
import { COMMANDS, version } from "../src/cli.js";
import { call, freePort, type Reply } from "./helpers/http.js";
import { buildOnce, CHILD_EVENT_MS, CHILD_START_MS, CLI, type CliRun, ROOT, runCli, spawnCli } from "./helpers/processes.js";

const SECRET = "cli-test-secret-that-is-at-least-32-bytes";

t.before(buildOnce);

/** Resolves with the exit, or rejects after `ms` (the child is then killed by teardown). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Polls GET /health until it answers (up to CHILD_START_MS); fails early if the process exits. */
async function waitForHealth(run: CliRun, port: number): Promise<Reply> {
  const deadline = Date.now() + CHILD_START_MS;
  let exited = false;
  void run.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`gateway exited before listening: ${run.stderr()}${run.stdout()}`);
    try {
      return await call(port, "GET", "/health");
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function writeConfig(dir: string, lines: string[]): string {
  const file = path.join(dir, "gateway.yaml");
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** A config that starts: memory store, a free port; the upstream (default: nothing on port 9) is only used when asked. */
function runnableConfig(port: number, upstreamPort = 9, jwt = `{secret: "${SECRET}"}`): string[] {
  return [
    "server_name: example.org",
    `listen: {host: 127.0.0.1, port: ${port}}`,
    `upstream: {url: "http://127.0.0.1:${upstreamPort}", timeout: 10s}`,
    `jwt: ${jwt}`,
    "store: {type: memory}",
    "http: {shutdown_timeout: 10s}",
  ];
}

t.test("package.json: npm start and bin run the compiled CLI", async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  t.match(pkg.scripts.start, /\bdist\/src\/cli\.js\b/);
  t.match(pkg.scripts.start, /--config config\/gateway\.yaml/);
  t.ok(fs.existsSync(path.join(ROOT, "config/gateway.yaml")), "npm start's config file exists");
  t.equal(pkg.bin["matrix-auth-gateway"], "dist/src/cli.js");
  // npm ci runs `prepare`, which builds when TypeScript is installed: no extra command before npm start (contract
  // "Command line"); `npm pack` builds in `prepack`, so the package ships dist/ and needs no TypeScript.
  t.equal(pkg.scripts.prepare, "node scripts/build.mjs --if-available");
  t.equal(pkg.scripts.prepack, "node scripts/build.mjs");
  t.equal(pkg.scripts.build, "node scripts/build.mjs");
  t.equal(fs.readFileSync(CLI, "utf8").split("\n")[0], "#!/usr/bin/env node");
});

t.test("--help prints the usage and exits 0", async (t) => {
  for (const flag of ["--help", "-h"]) {
    const run = await runCli([flag]);
    t.equal(run.code, 0, flag);
    t.match(run.stdout, /^Usage: matrix-auth-gateway /);
    t.match(run.stdout, /--config FILE/);
    t.match(run.stdout, /--check/);
    t.equal(run.stderr, "");
  }
});

t.test("--version and version print the package's version", async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  t.equal(version(), pkg.version);
  for (const args of [["--version"], ["-V"], ["version"]]) {
    t.same(await runCli(args), { code: 0, stdout: `matrix-auth-gateway ${pkg.version}\n`, stderr: "" }, args.join(" "));
  }
});

t.test("the overview lists each command with its own summary (loaded only when it runs)", async (t) => {
  const overview = (await runCli(["--help"])).stdout;
  for (const entry of COMMANDS) {
    const command = await entry.load();
    t.equal(entry.summary, command.summary, `${entry.name}: the overview's summary is the command's`);
    t.equal(command.name, entry.name);
    t.match(overview, `  ${entry.name.padEnd(14)}${entry.summary}`);
  }
});

t.test("an unknown flag exits 2 with the usage", async (t) => {
  const run = await runCli(["--bogus"]);
  t.equal(run.code, 2);
  t.match(run.stderr, /^Unknown option '--bogus'\n\nUsage: matrix-auth-gateway .*--config FILE/);
  t.equal(run.stdout, "");
  const positional = await runCli(["gateway.yaml"]);
  t.equal(positional.code, 2, "a positional argument is refused too");
  t.match(positional.stderr, /Usage: matrix-auth-gateway/);
});

t.test("--check on a valid file exits 0 without listening", async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const file = writeConfig(dir, runnableConfig(port));
  for (const args of [
    ["--config", file, "--check"],
    ["-c", file, "--check"],
    ["check-config", "--config", file],
  ]) {
    t.same(await runCli(args), { code: 0, stdout: `${file}: configuration is valid\n`, stderr: "" }, args.join(" "));
  }
  // Without --config the default is config/gateway.yaml, relative to the working directory (the program's own).
  const secretFile = path.join(ROOT, "data/jwt.secret");
  const existed = fs.existsSync(secretFile);
  const byDefault = spawnCli(t, ["--check"]);
  t.same(await within(byDefault.exited, CHILD_START_MS, "--check default"), { code: 0, signal: null });
  t.equal(byDefault.stdout(), "config/gateway.yaml: configuration is valid\n");
  t.equal(fs.existsSync(secretFile), existed, "--check does not create config/gateway.yaml's secret file");
  await t.rejects(call(port, "GET", "/health"), { code: "ECONNREFUSED" });
});

t.test("a bad config exits 2 before listening, every problem on stderr", async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const file = writeConfig(dir, [
    "server_name: example.org",
    `jwt: {secret: "${SECRET}"}`,
    "listen:",
    "  host: 127.0.0.1",
    `  port: "${port}/tcp"`,
    "trusted_proxies:",
    "  - 10.0.0.0/8",
    "  - 10.0.0.0/33",
    "tokens:",
    "  acces_ttl: 5m",
  ]);
  const expected = [
    `${file}:5:3: listen.port: must be a number, not text`,
    `${file}:8:5: trusted_proxies.1: must be an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8`,
    `${file}:10:3: tokens.acces_ttl: unknown key "acces_ttl" (did you mean "access_ttl"?)`,
  ];
  for (const check of [false, true]) {
    const run = await runCli(["--config", file, ...(check ? ["--check"] : [])]);
    t.equal(run.code, 2, check ? "with --check" : "starting");
    t.match(run.stderr, /\n$/);
    // All three, each on its own line (their order is not part of the contract).
    t.same(run.stderr.trimEnd().split("\n").sort(), [...expected].sort());
    t.equal(run.stdout, "", "no `listening` log line: it never listened");
  }
  // The program itself prints the same and exits 2.
  const child = spawnCli(t, ["--config", file]);
  t.same(await within(child.exited, CHILD_START_MS, "bad config"), { code: 2, signal: null });
  t.same(child.stderr().trimEnd().split("\n").sort(), [...expected].sort());
  // Nothing is bound on the port.
  await t.rejects(call(port, "GET", "/health"), { code: "ECONNREFUSED" });
});

t.test("a missing config file, an unreadable secret or key file: one line each, exit 2", async (t) => {
  const dir = t.testdir({ "a-directory": {} });
  const missing = path.join(dir, "missing.yaml");
  t.same(await runCli(["--config", missing]), {
    code: 2,
    stdout: "",
    stderr: `${missing}:1:1: (root): cannot read file: ENOENT: no such file or directory\n`,
  });
  const directory = path.join(dir, "a-directory");
  t.same(await runCli(["--config", directory, "--check"]), {
    code: 2,
    stdout: "",
    stderr: `${directory}:1:1: (root): cannot read file: EISDIR: illegal operation on a directory\n`,
  });

  const secretFile = path.join(dir, "no-such.secret");
  const secret = writeConfig(dir, runnableConfig(9, 9, `{secret_file: "${secretFile}"}`));
  const noSecret = await runCli(["--config", secret]);
  t.equal(noSecret.code, 2);
  t.match(noSecret.stderr, /^[^\n]+:4:\d+: jwt\.secret_file: cannot read secret file: ENOENT[^\n]*\n$/, "one line");

  const keyFile = path.join(dir, "a-directory");
  const keys = writeConfig(dir, runnableConfig(9, 9, `{keys: [{kid: k1, algorithm: ES256, private_key_file: "${keyFile}"}]}`));
  const noKey = await runCli(["--config", keys]);
  t.equal(noKey.code, 2);
  t.match(noKey.stderr, /^[^\n]+: jwt\.keys\.0\.private_key_file: cannot read a PEM key: EISDIR[^\n]*\n$/, "one line");
});

t.test("a port already in use: one line naming the key, exit 1, nothing left running", async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const dir = t.testdir({});
  const file = writeConfig(dir, runnableConfig(port));
  const run = spawnCli(t, ["--config", file]);
  t.same(await within(run.exited, CHILD_START_MS, "exit on EADDRINUSE"), { code: 1, signal: null });
  t.equal(
    run.stderr(),
    `${file}: listen: cannot listen on 127.0.0.1:${port}: the address is already in use (is another gateway running?)\n`,
  );
});

t.test("an error of the machine (a store that cannot be opened) is one line, not a stack trace", async (t) => {
  const dir = t.testdir({ "not-a-dir": "a file" });
  const port = await freePort();
  const file = writeConfig(dir, [
    ...runnableConfig(port).filter((line) => !line.startsWith("store:")),
    `store: {type: sqlite, path: "${path.join(dir, "not-a-dir", "gateway.sqlite")}"}`,
  ]);
  const run = spawnCli(t, ["--config", file]);
  t.same(await within(run.exited, CHILD_START_MS, "exit"), { code: 1, signal: null });
  t.match(run.stderr(), /^matrix-auth-gateway: [^\n]*\(E\w+\)\n$|^matrix-auth-gateway: E\w+: [^\n]*\n$/);
  t.notMatch(run.stderr(), /\n\s+at /, "no stack trace");
});

t.test("starts, answers /health, exits 0 on SIGTERM", async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const file = writeConfig(dir, runnableConfig(port));
  const run = spawnCli(t, ["--config", file]);
  const health = await waitForHealth(run, port);
  t.equal(health.status, 200);
  t.same(health.body, { status: "ok" });
  t.match(run.stdout(), /"msg":"listening"/);

  run.child.kill("SIGTERM");
  t.same(await within(run.exited, CHILD_EVENT_MS, "exit after SIGTERM"), { code: 0, signal: null });
  t.match(run.stdout(), /"msg":"stopped"/);
  t.equal(run.stderr(), "");
});

t.test("SIGTERM lets an in-flight request finish, refuses new ones, then exits 0", async (t) => {
  // A tiny homeserver whose /versions answers only when the test says so (versions is public: no login
  // needed), so that "still in flight" does not depend on how fast this machine is.
  let arrived!: () => void;
  const upstreamReached = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const upstream = http.createServer((req, res) => {
    if (req.url !== "/_matrix/client/versions") {
      res.writeHead(404).end();
      return;
    }
    arrived();
    void released.then(() => {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ versions: ["v1.11"] }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    upstream.closeAllConnections();
    upstream.close();
  });

  const dir = t.testdir({});
  const port = await freePort();
  const file = writeConfig(dir, runnableConfig(port, (upstream.address() as net.AddressInfo).port));
  const run = spawnCli(t, ["--config", file]);
  t.equal((await waitForHealth(run, port)).status, 200);

  let finished = false;
  const inFlight = call(port, "GET", "/_matrix/client/versions").finally(() => {
    finished = true;
  });
  await within(upstreamReached, CHILD_EVENT_MS, "request reaching the upstream");
  run.child.kill("SIGTERM");

  // The listener closes at once: a new connection is refused while the old request is still running.
  let refused = false;
  const deadline = Date.now() + CHILD_EVENT_MS;
  while (!refused && !finished && Date.now() < deadline) {
    try {
      await call(port, "GET", "/health");
      await new Promise((resolve) => setTimeout(resolve, 25));
    } catch (error) {
      refused = (error as NodeJS.ErrnoException).code === "ECONNREFUSED";
    }
  }
  t.ok(refused, "new connections are refused after SIGTERM");
  t.notOk(finished, "…while the in-flight request was still running");

  release();
  const response = await within(inFlight, CHILD_EVENT_MS, "in-flight request");
  t.equal(response.status, 200);
  t.same(response.body, { versions: ["v1.11"] });
  t.same(await within(run.exited, CHILD_EVENT_MS, "exit after draining"), { code: 0, signal: null });
  t.equal(run.stderr(), "");
});

t.test("create_secret_file: --check writes nothing, a start creates the secret with mode 0600", async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const secretFile = path.join(dir, "secrets/jwt.secret");
  const file = writeConfig(dir, runnableConfig(port, 9, "{secret_file: secrets/jwt.secret, create_secret_file: true}"));

  t.equal((await runCli(["--config", file, "--check"])).code, 0, "--check");
  t.notOk(fs.existsSync(secretFile), "--check did not create the secret file");

  const run = spawnCli(t, ["--config", file]);
  t.equal((await waitForHealth(run, port)).status, 200);
  t.ok(fs.existsSync(secretFile), "the secret file exists once the gateway listens");
  t.equal(fs.statSync(secretFile).mode & 0o777, 0o600);
  t.ok(fs.readFileSync(secretFile, "utf8").trimEnd().length >= 32);
  run.child.kill("SIGTERM");
  t.same(await within(run.exited, CHILD_EVENT_MS, "exit after SIGTERM"), { code: 0, signal: null });
});
