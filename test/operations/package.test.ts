/**
 * What ships, and that it installs and runs without the sources or any dev dependency:
 * - `npm pack` holds exactly `files` (the build, the example config, the docs, the licence);
 * - an operator's install of the tarball (`npm install --omit=dev ./x.tgz`) gives `npx matrix-auth-gateway`;
 * - the Dockerfile's runtime stage, its RUN commands run as written in a temporary directory (no container
 *   engine runs here): the unpacked tarball plus the lockfile's production dependencies starts with a sqlite
 *   store, answers GET /health, passes the image's own HEALTHCHECK command and stops on SIGTERM;
 * - the Dockerfile passes dockerfile-utils' linter and has the shape operators expect.
 * Everything talks to 127.0.0.1 only; npm is asked to use its cache first (`prefer-offline`).
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ValidationSeverity, validate } from "dockerfile-utils";
import t, { type Test } from "tap";
import { call, freePort } from "../helpers/http.js";
import { buildOnce, CHILD_EVENT_MS, CHILD_START_MS, ROOT } from "../helpers/processes.js";

const run = promisify(execFile);
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string; version: string };
const DOCKERFILE = fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
/** npm installs from the registry (its cache first); generous for a loaded machine, still a bound. */
const INSTALL_MS = 240_000;

/** npm and npx run with this Node (the one running the tests), using the cache before the registry. */
const ENV = {
  ...process.env,
  PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
  npm_config_prefer_offline: "true",
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
};

buildOnce();
// Two npm installs and a gateway start: more than the suite's per-file default on a loaded machine.
t.setTimeout(2 * INSTALL_MS + 120_000);

/** `npm pack` of the current build, once for the whole file (scripts off: the build is already there). */
let packed: Promise<{ tarball: string; files: string[] }> | undefined;
function pack(): Promise<{ tarball: string; files: string[] }> {
  packed ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mag-pack-"));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], {
      cwd: ROOT,
      env: ENV,
      timeout: INSTALL_MS,
    });
    const [result] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    return { tarball: path.join(dir, path.basename(result.filename)), files: result.files.map((f) => f.path).sort() };
  })();
  return packed;
}

/** The files the package must hold: the compiled sources, and nothing else of the repository's. */
function expectedFiles(): string[] {
  const compiled: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const relative = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith(".js")) compiled.push(relative);
    }
  };
  walk("dist/src");
  return [...compiled, "CHANGELOG.md", "LICENSE", "README.md", "config/gateway.example.yaml", "package.json"].sort();
}

function configFor(port: number, dataDir: string): string {
  return [
    "server_name: example.org",
    `listen: {host: 127.0.0.1, port: ${port}}`,
    'upstream: {url: "http://127.0.0.1:9"}',
    `jwt: {secret_file: "${path.join(dataDir, "jwt.secret")}", create_secret_file: true}`,
    `store: {type: sqlite, path: "${path.join(dataDir, "gateway.sqlite")}"}`,
    "",
  ].join("\n");
}

/** Starts `node dist/src/cli.js --config FILE` in `cwd`, waits for GET /health, returns a stop function. */
async function startInstalled(t: Test, cwd: string, cli: string, port: number, dataDir: string) {
  const file = path.join(cwd, "gateway.yaml");
  fs.writeFileSync(file, configFor(port, dataDir));
  const child = spawn(process.execPath, [cli, "--config", file], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const deadline = Date.now() + CHILD_START_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the installed gateway exited: ${stderr}`);
    try {
      const health = await call(port, "GET", "/health");
      return { health, child, exited, stderr: () => stderr };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The Dockerfile's instructions of the stage that starts at the `index`-th FROM (-1: the last). */
function stage(index: number): { keyword: string; args: string }[] {
  const instructions = DOCKERFILE.replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const keyword = line.split(/\s+/)[0] ?? "";
      return { keyword: keyword.toUpperCase(), args: line.slice(keyword.length).trim() };
    });
  const starts = instructions.flatMap((ins, i) => (ins.keyword === "FROM" ? [i] : []));
  const at = starts.at(index) as number;
  const next = starts.find((s) => s > at) ?? instructions.length;
  return instructions.slice(at, next);
}

/** A RUN's shell command without its BuildKit flags (`--mount=…`), which only the builder understands. */
const shellOf = (args: string) => args.replace(/^(--\S+\s+)+/, "");

t.test("npm pack ships exactly `files`: the build, the example config, the docs and the licence", async (t) => {
  const { files } = await pack();
  t.same(files, expectedFiles());
  t.notOk(
    files.some((f) => f.endsWith(".ts") || f.endsWith(".map") || f.startsWith("test/")),
    "no sources, maps or tests",
  );
});

t.test(
  "the packed tarball installs without dev dependencies and runs: npx matrix-auth-gateway --version",
  { timeout: INSTALL_MS + 60_000 },
  async (t) => {
    const { tarball } = await pack();
    const dir = t.testdir({ "package.json": JSON.stringify({ name: "operator", private: true }) });
    await run("npm", ["install", "--omit=dev", tarball], { cwd: dir, env: ENV, timeout: INSTALL_MS });
    t.notOk(fs.existsSync(path.join(dir, "node_modules/typescript")), "no TypeScript: it is a dev dependency");
    const { stdout } = await run("npx", ["--no-install", "matrix-auth-gateway", "--version"], {
      cwd: dir,
      env: ENV,
      timeout: CHILD_START_MS,
    });
    t.equal(stdout, `matrix-auth-gateway ${PKG.version}\n`);
  },
);

t.test(
  "Dockerfile: the runtime stage's commands, run here, install a gateway that serves /health",
  { timeout: INSTALL_MS + 120_000 },
  async (t) => {
    const runtime = stage(-1);
    const copies = runtime.filter((i) => i.keyword === "COPY").map((i) => i.args);
    t.ok(copies.includes("--from=build /tmp/matrix-auth-gateway.tgz ./"), "the build stage's packed tarball");
    t.ok(copies.includes("package-lock.json ./"), "and the lockfile");
    const install = runtime.find((i) => i.keyword === "RUN" && i.args.includes("npm ci"));
    t.ok(install, "a RUN installs the production dependencies");
    t.match(install?.args, /npm ci --omit=dev/);

    // WORKDIR /app, with what the two COPY lines put there.
    const { tarball } = await pack();
    const dir = t.testdir({ app: {}, data: {} });
    const app = path.join(dir, "app");
    fs.copyFileSync(tarball, path.join(app, "matrix-auth-gateway.tgz"));
    fs.copyFileSync(path.join(ROOT, "package-lock.json"), path.join(app, "package-lock.json"));
    await run("sh", ["-c", shellOf(install?.args ?? "false")], { cwd: app, env: { ...ENV, NODE_ENV: "production" }, timeout: INSTALL_MS });
    t.notOk(fs.existsSync(path.join(app, "matrix-auth-gateway.tgz")), "the tarball is removed");
    t.notOk(fs.existsSync(path.join(app, "node_modules/typescript")), "no dev dependency");
    t.ok(fs.existsSync(path.join(app, "node_modules/better-sqlite3")), "the production dependencies");

    // ENTRYPOINT ["node", "/app/dist/src/cli.js"]: that file, with a sqlite store (the native module loads).
    const entrypoint = JSON.parse(runtime.find((i) => i.keyword === "ENTRYPOINT")?.args ?? "[]") as string[];
    t.same(entrypoint, ["node", "/app/dist/src/cli.js"]);
    const cli = path.join(app, path.relative("/app", entrypoint[1] as string));
    const port = await freePort();
    const gateway = await startInstalled(t, app, cli, port, path.join(dir, "data"));
    t.equal(gateway.health.status, 200);
    t.same(gateway.health.body, { status: "ok" });

    // HEALTHCHECK … CMD ["node", "-e", "…"]: exit 0 against this gateway, 1 against nothing.
    const healthcheck = runtime.find((i) => i.keyword === "HEALTHCHECK")?.args ?? "";
    const command = JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD") + 3).trim()) as string[];
    t.equal(command[0], "node");
    const probe = (url: string) =>
      run(process.execPath, command.slice(1), { env: { ...ENV, HEALTHCHECK_URL: url }, timeout: CHILD_START_MS }).then(
        () => 0,
        (error: { code?: number }) => error.code ?? -1,
      );
    t.equal(await probe(`http://127.0.0.1:${port}/health`), 0, "the image's health check passes");
    t.equal(await probe(`http://127.0.0.1:${await freePort()}/health`), 1, "and fails when nothing answers");

    gateway.child.kill("SIGTERM");
    const exit = await Promise.race([gateway.exited, new Promise((resolve) => setTimeout(resolve, CHILD_EVENT_MS, "timeout"))]);
    t.equal(exit, 0, "exits 0 on SIGTERM (the image's STOPSIGNAL)");
    t.equal(gateway.stderr(), "");
  },
);

t.test("Dockerfile: lints clean and has the expected shape", async (t) => {
  const all = ValidationSeverity.WARNING;
  const problems = validate(DOCKERFILE, {
    deprecatedMaintainer: all,
    directiveCasing: all,
    emptyContinuationLine: all,
    instructionCasing: all,
    instructionCmdMultiple: all,
    instructionEntrypointMultiple: all,
    instructionHealthcheckMultiple: all,
    instructionJSONInSingleQuotes: all,
    instructionWorkdirRelative: all,
  });
  t.same(
    problems.map((p) => `${p.range.start.line + 1}: ${p.message}`),
    [],
    "dockerfile-utils finds nothing",
  );

  const build = stage(0);
  const runtime = stage(-1);
  t.match(build[0]?.args, /^node:24\S* AS build$/, "a build stage on Node 24");
  t.match(runtime[0]?.args, /^node:24-\S*slim$/, "a slim Node 24 runtime");
  const user = runtime.filter((i) => i.keyword === "USER").at(-1)?.args;
  t.ok(user && user !== "root" && user !== "0", `runs as a user other than root (${user})`);
  t.ok(
    runtime.some((i) => i.keyword === "HEALTHCHECK" && /\/health\b|HEALTHCHECK_URL/.test(i.args)),
    "HEALTHCHECK on /health",
  );
  t.match(runtime.find((i) => i.keyword === "ENV" && i.args.startsWith("HEALTHCHECK_URL="))?.args, /\/health$/);
  const volumes = runtime
    .filter((i) => i.keyword === "VOLUME")
    .map((i) => i.args)
    .join(" ");
  t.match(volumes, "/etc/matrix-auth-gateway", "configuration as a volume");
  t.match(volumes, "/var/lib/matrix-auth-gateway", "data as a volume");
  t.ok(
    runtime.some((i) => i.keyword === "EXPOSE" && i.args === "8080"),
    "EXPOSE 8080",
  );
  t.notOk(
    runtime.some((i) => i.keyword === "RUN" && /\b(tsc|npm ci)\b(?!.*--omit=dev)/.test(i.args)),
    "the runtime builds nothing and installs no dev dependency",
  );

  // Every file the build stage copies exists, and .dockerignore does not hide it from the build context.
  const ignored = fs
    .readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
  for (const copy of [...build, ...runtime].filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      t.ok(fs.existsSync(path.join(ROOT, source)), `COPY ${source}: exists`);
      t.notOk(
        ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
        `COPY ${source}: not in .dockerignore`,
      );
    }
  }
});
