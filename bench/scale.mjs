#!/usr/bin/env node
/**
 * `npm run bench:scale`: does a second worker pay? Loads `GET /_matrix/client/v3/account/whoami` (a cached
 * session, proxied to a minimal upstream answering ~70 bytes) on the gateway with `workers: 1` and with
 * `workers: 2` (sqlite store, rate limits off, no request log), in interleaved rounds, and prints requests/s
 * and p50/p99 latency side by side. Loopback only; bounded to well under 2 minutes.
 *
 * The load generator (wrk when installed, else autocannon in this process: bench/lib/load.mjs) and the
 * upstream (a child process) run on the same
 * machine as the gateway, so they take part of its cores: read the ratio as "on this machine", not as
 * what two workers give on a machine of their own.
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LOAD_GENERATOR, measure } from "./lib/load.mjs";

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), "..");
const CLI = path.join(ROOT, "dist/src/cli.js");
const WHOAMI = "/_matrix/client/v3/account/whoami";

const ROUNDS = 3;
const SECONDS = 10;
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
/** Whatever happens, stop before this (the brief: under 2 minutes). */
const HARD_LIMIT_MS = 110_000;

// ---------------------------------------------------------------------------------------------------
// `node bench/scale.mjs upstream PORT`: the minimal homeserver, in a process of its own.

if (process.argv[2] === "upstream") {
  const whoami = JSON.stringify({ user_id: "@bench:example.org", device_id: "BENCHDEVICE", is_guest: false });
  const login = JSON.stringify({ user_id: "@bench:example.org", access_token: "upstream-bench-token", device_id: "BENCHDEVICE" });
  const send = (res, status, body) => {
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  };
  http
    .createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.url === WHOAMI) return send(res, 200, whoami);
        if (req.method === "POST" && req.url === "/_matrix/client/v3/login") return send(res, 200, login);
        if (req.url === "/_matrix/client/versions") return send(res, 200, '{"versions":["v1.11"]}');
        send(res, 404, '{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}');
      });
    })
    .listen(Number(process.argv[3]), "127.0.0.1", () => process.send?.("ready"));
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const children = [];
  const dirs = [];
  const cleanup = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  };
  const watchdog = setTimeout(() => {
    console.error(`bench:scale: still running after ${HARD_LIMIT_MS / 1000} s: stopping`);
    cleanup();
    process.exit(1);
  }, HARD_LIMIT_MS);
  watchdog.unref();
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });

  try {
    if (!fs.existsSync(CLI)) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });

    const upstreamPort = await freePort();
    const upstream = spawn(process.execPath, [SELF, "upstream", String(upstreamPort)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.push(upstream);
    await new Promise((resolve, reject) => {
      upstream.once("message", resolve);
      upstream.once("exit", (code) => reject(new Error(`upstream exited (${code})`)));
    });

    const gateways = {};
    for (const workers of [1, 2]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-scale-${workers}-`));
      dirs.push(dir);
      const port = await freePort();
      const file = path.join(dir, "gateway.yaml");
      fs.writeFileSync(
        file,
        [
          `workers: ${workers}`,
          "server_name: example.org",
          `listen: {host: 127.0.0.1, port: ${port}}`,
          `upstream: {url: "http://127.0.0.1:${upstreamPort}"}`,
          'jwt: {secret: "bench-scale-secret-that-is-at-least-32-bytes"}',
          `store: {type: sqlite, path: "${path.join(dir, "gateway.sqlite")}"}`,
          "rate_limits: {enabled: false}",
          "log: {level: warn, requests: false}",
          "",
        ].join("\n"),
      );
      const child = spawn(process.execPath, [CLI, "--config", file], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
      children.push(child);
      gateways[workers] = { port, child };
    }
    for (const { port } of Object.values(gateways)) await waitForHealth(port);
    for (const gateway of Object.values(gateways)) {
      gateway.token = await loginOnce(gateway.port);
      // The primary and its workers: their CPU time together is what the requests cost.
      gateway.pids = [gateway.child.pid, ...childPids(gateway.child.pid)];
    }

    const cores = os.availableParallelism();
    console.log(`bench:scale — GET ${WHOAMI} through the gateway (sqlite store, rate limits off, log.requests false, log level warn)`);
    console.log(
      `${cores} cores (os.availableParallelism). The load generator (${LOAD_GENERATOR === "wrk" ? "wrk, one thread" : "autocannon, one process"}, ${CONNECTIONS} keep-alive connections) ` +
        `and the upstream (a minimal node http server answering ${whoamiBytes()} bytes) share these ${cores} cores with the gateway's workers.`,
    );
    console.log(`${ROUNDS} interleaved rounds of ${SECONDS} s per worker count, after a ${WARMUP_SECONDS} s warm-up of each.`);
    // Anything else running on the machine takes cores too: say how busy it was.
    console.log(`load average before the first round: ${os.loadavg()[0].toFixed(2)} (1 min)\n`);

    for (const workers of [1, 2]) await load(gateways[workers], WARMUP_SECONDS);

    const results = { 1: [], 2: [] };
    const header = ["round", "workers", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "cores", "errors", "non-2xx"];
    const line = (cells) => cells.map((v, i) => (i < 2 ? String(v).padEnd(8) : String(v).padStart(i === 5 ? 12 : 9))).join("");
    console.log(line(header));
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so neither always gets the warmer machine.
      const order = round % 2 === 1 ? [1, 2] : [2, 1];
      for (const workers of order) {
        const result = await load(gateways[workers], SECONDS);
        results[workers].push(result);
        const row = [round, workers, result.rps.toFixed(0), result.p50, result.p99, result.cpuUs.toFixed(0), result.cores.toFixed(2)];
        row.push(result.errors, result.non2xx);
        console.log(line(row));
      }
    }

    const median = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)];
    };
    const summary = (workers) => ({
      rps: median(results[workers].map((r) => r.rps)),
      p50: median(results[workers].map((r) => r.p50)),
      p99: median(results[workers].map((r) => r.p99)),
      cpuUs: median(results[workers].map((r) => r.cpuUs)),
      cores: median(results[workers].map((r) => r.cores)),
    });
    const one = summary(1);
    const two = summary(2);
    console.log("\nmedian of the rounds:");
    console.log(`  1 worker : ${one.rps.toFixed(0).padStart(6)} req/s   p50 ${one.p50} ms   p99 ${one.p99} ms`);
    console.log(`  2 workers: ${two.rps.toFixed(0).padStart(6)} req/s   p50 ${two.p50} ms   p99 ${two.p99} ms`);
    console.log(`  ratio 2 workers / 1 worker: ${(two.rps / one.rps).toFixed(2)}× requests/s`);
    // What the ratio cannot say on shared cores: whether a worker's requests cost more when there are two
    // (contention in the gateway), or whether the second worker simply got less than a core.
    console.log(
      `  gateway CPU per request: ${one.cpuUs.toFixed(0)} µs with 1 worker, ${two.cpuUs.toFixed(0)} µs with 2 (${(two.cpuUs / one.cpuUs).toFixed(2)}×); ` +
        `cores the gateway got: ${one.cores.toFixed(2)} and ${two.cores.toFixed(2)}`,
    );
    // One worker is held to one core; two, given a core each, would each run at the CPU per request measured here.
    console.log(
      `  estimate on two free cores: 2 × ${one.cpuUs.toFixed(0)} ÷ ${two.cpuUs.toFixed(0)} = ${((2 * one.cpuUs) / two.cpuUs).toFixed(2)}×`,
    );
    console.log(
      `(on ${cores} cores shared with the load generator and the upstream; load average after: ${os.loadavg()[0].toFixed(2)}; ` +
        `done in ${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
    const failed = [...results[1], ...results[2]].some((r) => r.errors > 0 || r.non2xx > 0);
    if (failed) {
      console.error("bench:scale: some requests failed (see errors / non-2xx)");
      process.exitCode = 1;
    }
  } finally {
    clearTimeout(watchdog);
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", resolve);
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
          }),
      ),
    );
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The child processes of `pid` (the gateway's workers), from /proc; none where /proc does not list them. */
function childPids(pid) {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((task) => fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function whoamiBytes() {
  return Buffer.byteLength(JSON.stringify({ user_id: "@bench:example.org", device_id: "BENCHDEVICE", is_guest: false }));
}

async function load({ port, token, pids }, seconds) {
  const run = {
    port,
    path: WHOAMI,
    headers: { authorization: `Bearer ${token}` },
    connections: CONNECTIONS,
    durationSec: seconds,
    proxyPid: pids,
  };
  const result = await measure(run);
  return {
    rps: result.requestsPerSec,
    p50: result.p50Ms.toFixed(2),
    p99: result.p99Ms.toFixed(2),
    cpuUs: result.proxyCpuUsPerReq,
    cores: (result.proxyCpuUsPerReq * result.requestsPerSec) / 1e6,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForHealth(port) {
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the gateway on port ${port} did not answer /health within 10 s`);
}

async function loginOnce(port) {
  const response = await fetch(`http://127.0.0.1:${port}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "bench" }, password: "bench" }),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}
