/**
 * Helpers of the scale tests: the compiled CLI as a child process (its JSON log lines read from stdout),
 * HTTP calls on fresh connections, a free loopback port, a key prefix of one's own in the shared Redis.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Test } from "tap";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = path.join(ROOT, "dist/src/cli.js");
export const SECRET = "scale-test-secret-that-is-at-least-32-bytes!";
export const ALICE = "@alice:example.org";
export const WHOAMI = "/_matrix/client/v3/account/whoami";

/** The tests run the build, not the sources: compile once if `npm run build` has not been run. */
export function buildOnce(): void {
  if (!fs.existsSync(CLI)) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
}

/** A port nothing listens on right now: bind 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or `"timeout"` after `ms` (the timer does not keep the test process alive). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  return Promise.race([promise, new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ms).unref())]);
}

export type LogLine = Record<string, unknown>;

export interface CliProcess {
  child: ChildProcess;
  port: number;
  /** Parsed stdout lines so far (every worker's, with `workers`). */
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once `count` lines from index `from` on match, within `ms`. */
  waitForLines(match: (line: LogLine) => boolean, count?: number, ms?: number, from?: number): Promise<LogLine[]>;
}

/**
 * Writes `config` to FILE in `dir` and spawns `node dist/src/cli.js --config FILE`; resolves once
 * `listening` lines (one per worker) were logged. Killed with SIGKILL at teardown if still running.
 */
export async function startCli(t: Test, dir: string, port: number, config: string, listeners = 1): Promise<CliProcess> {
  const file = path.join(dir, `gateway-${port}.yaml`);
  fs.writeFileSync(file, config);
  const child = spawn(process.execPath, [CLI, "--config", file], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const lines: LogLine[] = [];
  let partial = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout?.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString("utf8")).split("\n");
    partial = parts.pop() ?? "";
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        lines.push({ text: part });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  const waitForLines: CliProcess["waitForLines"] = (match, count = 1, ms = 5_000, from = 0) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.slice(from).filter(match);
        if (found.length < count) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`fewer than ${count} such log lines within ${ms} ms; stdout: ${JSON.stringify(lines)} stderr: ${stderr}`));
      }, ms);
      waiters.add(check);
      check();
    });
  await waitForLines((line) => line.msg === "listening", listeners, 15_000);
  return { child, port, lines, stderr: () => stderr, exited, waitForLines };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** Wall time of the exchange, ms. */
  ms: number;
}

/** One HTTP exchange on a fresh connection (`agent: false`): with workers, connections are what get spread. */
export function call(port: number, method: string, urlPath: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const request = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers, agent: false }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, ms: performance.now() - started });
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(payload);
  });
}

export const login = (port: number, user = "alice", password = "wonderland") =>
  call(port, "POST", "/_matrix/client/v3/login", {
    body: { type: "m.login.password", identifier: { type: "m.id.user", user }, password, refresh_token: true },
  });

/** Runs a short CLI command to its end. */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The session id inside a gateway access token (the `sid` claim). */
export function sessionIdOf(jwt: string): string {
  return JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString("utf8")).sid;
}

/** A key prefix of this test alone in the shared Redis; its keys are deleted at teardown. */
export function ownKeyPrefix(t: Test, redisUrl: string, label: string): string {
  const prefix = `scale-test:${label}:${process.pid}:${Date.now().toString(36)}:`;
  t.teardown(async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys = await keysMatching(redis, `${prefix}*`);
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });
  return prefix;
}

/**
 * Until a gateway's rate-limit connection to Redis is up (a few ms after it listens), it counts in memory
 * (the insurance limiter). Resolves true once a public request on `port` left its counter under `prefix`
 * in Redis (that counter is then deleted), false if that never happens within ~2 s.
 */
export async function limitsCountedInRedis(port: number, redis: Redis, prefix: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await call(port, "GET", "/_matrix/client/versions")).status !== 200) return false;
    const keys = await keysMatching(redis, `${prefix}rl:public_address*`);
    if (keys.length) {
      await redis.del(...keys);
      return true;
    }
    await sleep(20);
  }
  return false;
}

/** Every key matching `pattern` (a whole SCAN: the shared Redis may hold other tests' keys too). */
export async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== "0");
  return found;
}
