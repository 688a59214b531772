/**
 * The CLI as the tests drive it. A short command (`runCli`: gen-secret, sessions, check-config) runs in this
 * process through the CLI's exported `main`, so no test waits for a Node process to start on a busy machine.
 * A gateway that must be signalled (`spawnCli`, `startCli`) is the compiled CLI (`node dist/src/cli.js`) in a
 * child process: built once if `npm run build` has not been run, spawned with its output collected (and its
 * JSON log lines parsed from stdout), killed with SIGKILL at teardown if still running. Deadlines for a child
 * are generous (`CHILD_START_MS`): they only bound a hang, they do not measure speed.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Test } from "tap";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** How long a child gateway may take to start listening (a loaded 2-core machine takes seconds, not minutes). */
export const CHILD_START_MS = 60_000;
/** How long a log line, or an exit after SIGTERM, may take to appear once it is due. */
export const CHILD_EVENT_MS = 30_000;
export const CLI = path.join(ROOT, "dist/src/cli.js");

/** The tests run the build, not the sources: compile once if `npm run build` has not been run. */
export function buildOnce(): void {
  if (!fs.existsSync(CLI)) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or `"timeout"` after `ms` (the timer does not keep the test process alive). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  return Promise.race([promise, new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ms).unref())]);
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface CliRun {
  child: ChildProcess;
  /** Everything written so far. */
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Exit>;
}

/** Starts `node dist/src/cli.js ARGS` in `cwd`; the process is killed at teardown if still running. */
export function spawnCli(t: Test, args: string[], cwd = ROOT): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<Exit>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export type LogLine = Record<string, unknown>;

export interface CliProcess extends CliRun {
  port: number;
  /** The config file it was started with. */
  file: string;
  /** Parsed stdout lines so far (every worker's, with `workers`); a line that is not JSON is `{text}`. */
  lines: LogLine[];
  /** Resolves once `count` lines from index `from` on match, within `ms`. */
  waitForLines(match: (line: LogLine) => boolean, count?: number, ms?: number, from?: number): Promise<LogLine[]>;
  /** The first line from index `from` on that matches, within `ms`. */
  waitForLine(match: (line: LogLine) => boolean, ms?: number, from?: number): Promise<LogLine>;
}

/**
 * Writes `config` to FILE in `dir` and spawns `node dist/src/cli.js --config FILE`; resolves once
 * `listening` lines (one per worker) were logged.
 */
export async function startCli(t: Test, dir: string, port: number, config: string, listeners = 1): Promise<CliProcess> {
  const file = path.join(dir, `gateway-${port}.yaml`);
  fs.writeFileSync(file, config);
  const run = spawnCli(t, ["--config", file]);
  const lines: LogLine[] = [];
  let partial = "";
  const waiters = new Set<() => void>();
  run.child.stdout?.on("data", (chunk: Buffer) => {
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
  const waitForLines: CliProcess["waitForLines"] = (match, count = 1, ms = CHILD_EVENT_MS, from = 0) =>
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
        reject(new Error(`fewer than ${count} such log lines within ${ms} ms; stdout: ${JSON.stringify(lines)} stderr: ${run.stderr()}`));
      }, ms);
      waiters.add(check);
      check();
    });
  const waitForLine: CliProcess["waitForLine"] = async (match, ms, from) => (await waitForLines(match, 1, ms, from))[0] as LogLine;
  await waitForLines((line) => line.msg === "listening", listeners, CHILD_START_MS);
  return { ...run, port, file, lines, waitForLines, waitForLine };
}

/**
 * Runs a short CLI command to its end in this process (the CLI's `main` with its output captured). Not for
 * `run` of a valid configuration, which would serve until signalled: start that with `startCli`.
 */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import("../../src/cli.js");
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}
