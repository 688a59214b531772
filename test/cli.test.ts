/**
 * The compiled command line (contract "Command line"): `--help`, `--check`, a bad config exits non-zero
 * before listening with every problem as `FILE:LINE:COL: dotted.path: message`, GET /health once
 * listening, SIGTERM finishes in-flight requests and exits 0, `npm start` / `bin` point at the build.
 */
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import t from "tap";
import { call, freePort, type Reply } from "./helpers/http.js";
import { buildOnce, CLI, type CliRun, ROOT, spawnCli } from "./helpers/processes.js";

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

/** Polls GET /health until it answers (up to 10 s); fails early if the process exits. */
async function waitForHealth(run: CliRun, port: number): Promise<Reply> {
  const deadline = Date.now() + 10_000;
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
  const runs = ["--help", "-h"].map((flag) => ({ flag, run: spawnCli(t, [flag]) }));
  for (const { flag, run } of runs) {
    t.same(await within(run.exited, 10_000, flag), { code: 0, signal: null }, flag);
    t.match(run.stdout(), /^Usage: matrix-auth-gateway /);
    t.match(run.stdout(), /--config FILE/);
    t.match(run.stdout(), /--check/);
    t.equal(run.stderr(), "");
  }
});

t.test("an unknown flag exits 2 with the usage", async (t) => {
  const run = spawnCli(t, ["--bogus"]);
  const positional = spawnCli(t, ["gateway.yaml"]);
  t.same(await within(run.exited, 10_000, "--bogus"), { code: 2, signal: null });
  t.match(run.stderr(), /^Unknown option '--bogus'\n\nUsage: matrix-auth-gateway .*--config FILE/);
  t.equal(run.stdout(), "");
  t.same(await within(positional.exited, 10_000, "positional"), { code: 2, signal: null }, "a positional argument is refused too");
  t.match(positional.stderr(), /Usage: matrix-auth-gateway/);
});

t.test("--check on a valid file exits 0 without listening", async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const file = writeConfig(dir, runnableConfig(port));
  // Without --config the default is config/gateway.yaml, relative to the working directory.
  const secretFile = path.join(ROOT, "data/jwt.secret");
  const existed = fs.existsSync(secretFile);
  const byDefault = spawnCli(t, ["--check"]);
  const runs = [spawnCli(t, ["--config", file, "--check"]), spawnCli(t, ["-c", file, "--check"])];
  for (const run of runs) {
    t.same(await within(run.exited, 10_000, "--check"), { code: 0, signal: null });
    t.equal(run.stdout(), `${file}: configuration is valid\n`);
    t.equal(run.stderr(), "");
  }
  t.same(await within(byDefault.exited, 10_000, "--check default"), { code: 0, signal: null });
  t.equal(byDefault.stdout(), "config/gateway.yaml: configuration is valid\n");
  t.equal(fs.existsSync(secretFile), existed, "--check does not create config/gateway.yaml's secret file");
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
  const missing = path.join(dir, "missing.yaml");
  const unreadable = spawnCli(t, ["--config", missing]);
  const runs = [false, true].map((check) => ({ check, run: spawnCli(t, ["--config", file, ...(check ? ["--check"] : [])]) }));
  for (const { check, run } of runs) {
    t.same(await within(run.exited, 10_000, "bad config"), { code: 2, signal: null }, check ? "with --check" : "starting");
    t.match(run.stderr(), /\n$/);
    const expected = [
      `${file}:5:3: listen.port: Invalid input: expected number, received string`,
      `${file}:8:5: trusted_proxies.1: must be an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8`,
      `${file}:10:3: tokens.acces_ttl: unknown key`,
    ];
    // All three, each on its own line (their order is not part of the contract).
    t.same(run.stderr().trimEnd().split("\n").sort(), expected.sort());
    t.equal(run.stdout(), "", "no `listening` log line: it never listened");
  }
  // Nothing is bound on the port.
  await t.rejects(call(port, "GET", "/health"), { code: "ECONNREFUSED" });

  // An unreadable file is reported in the same format.
  t.same(await within(unreadable.exited, 10_000, "missing config"), { code: 2, signal: null });
  t.match(unreadable.stderr(), new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1:1: \\(root\\): cannot read file: ENOENT`));
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
  t.same(await within(run.exited, 5_000, "exit after SIGTERM"), { code: 0, signal: null });
  t.match(run.stdout(), /"msg":"stopped"/);
  t.equal(run.stderr(), "");
});

t.test("SIGTERM lets an in-flight request finish, refuses new ones, then exits 0", async (t) => {
  // A tiny homeserver whose /versions answers after 1.5 s (versions is public: no login needed).
  let arrived!: () => void;
  const upstreamReached = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const upstream = http.createServer((req, res) => {
    if (req.url !== "/_matrix/client/versions") {
      res.writeHead(404).end();
      return;
    }
    arrived();
    setTimeout(() => {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ versions: ["v1.11"] }));
    }, 1_500);
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
  await within(upstreamReached, 5_000, "request reaching the upstream");
  run.child.kill("SIGTERM");

  // The listener closes at once: a new connection is refused while the old request is still running.
  let refused = false;
  for (let i = 0; i < 20 && !refused && !finished; i++) {
    try {
      await call(port, "GET", "/health");
      await new Promise((resolve) => setTimeout(resolve, 25));
    } catch (error) {
      refused = (error as NodeJS.ErrnoException).code === "ECONNREFUSED";
    }
  }
  t.ok(refused, "new connections are refused after SIGTERM");
  t.notOk(finished, "…while the in-flight request was still running");

  const response = await within(inFlight, 5_000, "in-flight request");
  t.equal(response.status, 200);
  t.same(response.body, { versions: ["v1.11"] });
  t.same(await within(run.exited, 5_000, "exit after draining"), { code: 0, signal: null });
  t.equal(run.stderr(), "");
});

t.test("create_secret_file: --check writes nothing, a start creates the secret with mode 0600", async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const secretFile = path.join(dir, "secrets/jwt.secret");
  const file = writeConfig(dir, runnableConfig(port, 9, "{secret_file: secrets/jwt.secret, create_secret_file: true}"));

  const check = spawnCli(t, ["--config", file, "--check"]);
  t.same(await within(check.exited, 10_000, "--check"), { code: 0, signal: null });
  t.notOk(fs.existsSync(secretFile), "--check did not create the secret file");

  const run = spawnCli(t, ["--config", file]);
  t.equal((await waitForHealth(run, port)).status, 200);
  t.ok(fs.existsSync(secretFile), "the secret file exists once the gateway listens");
  t.equal(fs.statSync(secretFile).mode & 0o777, 0o600);
  t.ok(fs.readFileSync(secretFile, "utf8").trimEnd().length >= 32);
  run.child.kill("SIGTERM");
  t.same(await within(run.exited, 5_000, "exit after SIGTERM"), { code: 0, signal: null });
});
