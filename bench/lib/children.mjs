/**
 * Child processes of the benchmark: every server under test runs in its own process so that its CPU
 * time can be read from /proc/PID/stat without the load generator's. Every child started here is
 * remembered and killed when the benchmark ends, normally or not.
 */
import { execFileSync, fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";

const children = new Set();
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 3_000;

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function remember(child, name) {
  const entry = { child, name, stderr: "" };
  child.stderr?.on("data", (chunk) => {
    entry.stderr = (entry.stderr + chunk.toString("utf8")).slice(-4000);
  });
  children.add(entry);
  child.once("exit", () => children.delete(entry));
  return entry;
}

/**
 * Forks a Node script that answers `{type: "ready", port}` over IPC once it listens on 127.0.0.1.
 * `options` reaches the script as JSON in argv[2]. Returns `{pid, port, call, stop}`; `call(message)` sends
 * an IPC request and resolves with the child's reply (`{id, ...}`). `startTimeoutMs`: longer for a child started
 * beside CPU-heavy work (the fills of bench:sessions).
 */
export function startNode(name, script, options = {}, { execArgv = [], startTimeoutMs = START_TIMEOUT_MS } = {}) {
  const child = fork(script, [JSON.stringify(options)], { stdio: ["ignore", "ignore", "pipe", "ipc"], execArgv });
  const entry = remember(child, name);
  let nextId = 1;
  const pending = new Map();
  child.on("message", (message) => {
    const waiter = pending.get(message?.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${name}: ${message.error}`));
    else waiter.resolve(message);
  });
  child.once("exit", (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name} exited (${code ?? signal})\n${entry.stderr}`));
    pending.clear();
  });
  const call = (message) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ ...message, id });
    });
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${startTimeoutMs} ms\n${entry.stderr}`)), startTimeoutMs);
    child.once("exit", (code, signal) => fail(new Error(`${name} exited before it was ready (${code ?? signal})\n${entry.stderr}`)));
    child.on("message", (message) => {
      if (message?.type !== "ready" || settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ name, pid: child.pid, port: message.port, call, stop: () => stop(entry) });
    });
  });
}

/** Runs a Node script to completion and resolves with the last JSON line it printed. */
export function runNode(name, script, options = {}, { timeoutMs = 120_000, execArgv = [] } = {}) {
  const child = fork(script, [JSON.stringify(options)], { stdio: ["ignore", "pipe", "pipe", "ipc"], execArgv });
  const entry = remember(child, name);
  let stdout = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk.toString("utf8");
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split("\n").at(-1);
      if (code !== 0 || !last) reject(new Error(`${name} failed (${code ?? signal})\n${entry.stderr}`));
      else resolve(JSON.parse(last));
    });
  });
}

/** Starts a non-Node server (nginx) and waits until its port accepts connections. */
export async function startProcess(name, command, args, port) {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  const entry = remember(child, name);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not start\n${entry.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { name, pid: child.pid, port, stop: () => stop(entry) };
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A port that was free a moment ago on 127.0.0.1 (for servers that cannot report the one they got). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** CPU time (user + system) a process has used so far, in microseconds. */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/**
 * User-mode time of one CPU since boot, in µs (/proc/stat: user, nice). Kernel time is left out: the kernel work
 * of the server's loopback traffic is split between system, irq and softirq time in ways no process is charged
 * for exactly, while another program's work shows up as user time.
 */
export function cpuUserMicros(cpu) {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return undefined;
  const [user, nice] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice) * 1e6) / CLOCK_TICKS;
}

/** User-mode CPU time of a process (all its threads), in µs. */
export function userMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) * 1e6) / CLOCK_TICKS;
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kib) * 1024;
}

function stop(entry) {
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Stops every child still running: SIGTERM, then SIGKILL after a grace period. */
export function stopAll() {
  return Promise.all([...children].map(stop));
}

// A benchmark that fails or is interrupted leaves no server behind.
process.once("exit", () => {
  for (const { child } of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    stopAll().finally(() => process.exit(130));
  });
}
