#!/usr/bin/env node
/**
 * `npm run bench:scale`: does a second worker pay? Loads `GET /_matrix/client/v3/account/whoami` (a cached
 * session, proxied to the bench upstream) on the gateway started by its CLI with `workers: 1` and with
 * `workers: 2` (node:cluster; sqlite store, rate limits off, no request log), in interleaved rounds, and prints
 * requests/s, p50/p99 latency and the CPU time the gateway's processes spent per request side by side.
 * Needs a build. Writes bench/results/BENCH_OUTPUT.{md,json}.
 *
 * Two workers need two cores, and the load generator (wrk when installed, else autocannon: bench/lib/load.mjs)
 * and the upstream need some too: on a 2-core machine no arrangement gives the workers cores of their own.
 * The CPU per request tells the two reasons for a ratio under 2× apart — the workers getting in each other's
 * way (a request costing more with two) or cores they did not get — and gives the estimate for two free cores.
 *
 * Environment (defaults in brackets):
 *   BENCH_SCALE_ROUNDS [3]        interleaved rounds per worker count
 *   BENCH_SCALE_SECONDS [10]      measured seconds per round
 *   BENCH_SCALE_CONNECTIONS [50]  keep-alive connections of the load generator
 *   BENCH_SCALE_PIN [0]           1: worker i alone on CPU i-1 as far as this benchmark goes (taskset), the load
 *                                 generator, the upstream and the primary on the last CPU: with one worker it has
 *                                 CPU 0 to itself, with two the second shares the last CPU with the load
 *   BENCH_SCALE_LIMITS [0]        1: rate limits on, the per-user limit raised so that the one token is never refused;
 *                                 with `workers: 2` its counter lives in the primary (rate-limiter-flexible's
 *                                 RateLimiterCluster): one IPC round trip through the primary per request
 *   BENCH_OUTPUT [scale]          results file name in bench/results/
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cpuMicros, freePort, startNode, startProcess, stopAll } from "./lib/children.mjs";
import { LOAD_GENERATOR, measure, median, warmUp } from "./lib/load.mjs";
import { table, writeResults } from "./lib/report.mjs";
import { machineInfo, positiveNumber } from "./lib/run-info.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, "..", "dist", "src", "cli.js");
const WHOAMI = "/_matrix/client/v3/account/whoami";
const WARMUP_SECONDS = 2;

const settings = {
  rounds: positiveNumber("BENCH_SCALE_ROUNDS", 3),
  seconds: positiveNumber("BENCH_SCALE_SECONDS", 10),
  connections: positiveNumber("BENCH_SCALE_CONNECTIONS", 50),
  pin: process.env.BENCH_SCALE_PIN === "1",
  limits: process.env.BENCH_SCALE_LIMITS === "1",
};
const output = process.env.BENCH_OUTPUT ?? "scale";
const began = performance.now();
const loadAtStart = os.loadavg()[0];
const say = (text) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(3)} s] ${text}`);

if (!existsSync(CLI)) {
  console.error("bench:scale: dist/src/cli.js is missing: run `npm run build` first.");
  process.exit(1);
}
const cpus = os.cpus().length;
if (settings.pin && cpus < 2) throw new Error("BENCH_SCALE_PIN=1 needs at least 2 CPUs");
const lastCpu = String(cpus - 1);
const taskset = (cpu, pid) => execFileSync("taskset", ["-a", "-p", "-c", cpu, String(pid)], { stdio: "ignore" });
// The load generator and the upstream are started by this process and inherit its CPU set.
if (settings.pin) taskset(lastCpu, process.pid);

const workDir = mkdtempSync(path.join(os.tmpdir(), "matrix-auth-gateway-scale-"));
process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));
let results;
try {
  results = await run();
} finally {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
}
writeResults(path.join(here, "results"), output, { markdown: markdown(results), json: results });
if (results.failed) {
  console.error("bench:scale: some requests failed (see errors / non-2xx)");
  process.exitCode = 1;
}

// ---------------------------------------------------------------------------------------------------

async function run() {
  const upstream = await startNode("upstream", path.join(here, "servers", "upstream.mjs"));
  const gateways = {};
  for (const workers of [1, 2]) gateways[workers] = await startGateway(workers, upstream.port);
  const sharing = settings.pin
    ? `pinned (taskset): worker 1 on CPU 0, worker 2 on CPU ${lastCpu}; the primary, ${LOAD_GENERATOR} and the upstream on CPU ${lastCpu}`
    : `not pinned: the workers, the primary, ${LOAD_GENERATOR} and the upstream share all ${cpus} CPUs as the scheduler sees fit`;
  say(`gateways up (workers: 1 and 2); ${sharing}`);
  for (const workers of [1, 2]) await warmUp(loadRun(gateways[workers]), WARMUP_SECONDS);

  const rounds = { 1: [], 2: [] };
  for (let round = 1; round <= settings.rounds; round++) {
    // Alternate which goes first, so neither always gets the warmer machine.
    for (const workers of round % 2 === 1 ? [1, 2] : [2, 1]) {
      const gateway = gateways[workers];
      const loadAverage = os.loadavg()[0];
      const primaryCpu = () => (gateway.primary ? cpuMicros(gateway.primary) : 0);
      const primaryBefore = primaryCpu();
      const workersBefore = gateway.workers.map(cpuMicros);
      const result = await measure(loadRun(gateway));
      const perWorkerUs = gateway.workers.map((pid, i) => cpuMicros(pid) - workersBefore[i]);
      const seconds = result.answered / result.requestsPerSec;
      const row = {
        rps: result.requestsPerSec,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        cpuUs: result.proxyCpuUsPerReq,
        primaryCpuUs: (primaryCpu() - primaryBefore) / result.answered,
        cores: (result.proxyCpuUsPerReq * result.requestsPerSec) / 1e6,
        workerCores: perWorkerUs.map((us) => us / 1e6 / seconds),
        errors: result.errors,
        non2xx: result.non2xx,
        loadAverage,
      };
      rounds[workers].push(row);
      say(
        `round ${round}, ${workers} worker${workers > 1 ? "s" : ""}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99Ms.toFixed(2)} ms, ` +
          `${row.cpuUs.toFixed(0)} µs CPU/req (primary ${row.primaryCpuUs.toFixed(1)}), cores ${row.workerCores.map((c) => c.toFixed(2)).join(" + ")}, ` +
          `load average ${loadAverage.toFixed(2)}`,
      );
    }
  }
  const summary = (workers) => {
    const pick = (key) => median(rounds[workers].map((r) => r[key]));
    return {
      rps: pick("rps"),
      p50Ms: pick("p50Ms"),
      p99Ms: pick("p99Ms"),
      cpuUs: pick("cpuUs"),
      primaryCpuUs: pick("primaryCpuUs"),
      cores: pick("cores"),
    };
  };
  const one = summary(1);
  const two = summary(2);
  return {
    date: new Date().toISOString(),
    machine: machineInfo(loadAtStart),
    settings: { ...settings, loadGenerator: LOAD_GENERATOR, sharing },
    one,
    two,
    // Paired round by round (the two ran seconds apart, under the same load from elsewhere).
    ratios: rounds[2].map((r, i) => r.rps / rounds[1][i].rps),
    ratio: two.rps / one.rps,
    cpuRatio: two.cpuUs / one.cpuUs,
    // One worker is held to one core; two, given a core each, would each run at the CPU per request measured here.
    freeCoresEstimate: (2 * one.cpuUs) / two.cpuUs,
    rounds,
    failed: [...rounds[1], ...rounds[2]].some((r) => r.errors > 0 || r.non2xx > 0),
    totalSeconds: (performance.now() - began) / 1000,
  };
}

function loadRun(gateway) {
  return {
    port: gateway.port,
    path: WHOAMI,
    headers: { authorization: `Bearer ${gateway.token}` },
    connections: settings.connections,
    durationSec: settings.seconds,
    proxyPid: gateway.primary ? [gateway.primary, ...gateway.workers] : gateway.workers,
  };
}

/** The CLI with `workers: N`, once every worker answers; one login gives the token the load sends. */
async function startGateway(workers, upstreamPort) {
  const port = await freePort();
  const file = path.join(workDir, `gateway-${workers}.yaml`);
  writeFileSync(
    file,
    [
      `workers: ${workers}`,
      "server_name: bench.local",
      `listen: {host: 127.0.0.1, port: ${port}}`,
      `upstream: {url: "http://127.0.0.1:${upstreamPort}"}`,
      `jwt: {secret: "bench-scale-secret-that-is-at-least-32-bytes"}`,
      `store: {type: sqlite, path: ${JSON.stringify(path.join(workDir, `gateway-${workers}.sqlite`))}}`,
      "tokens: {access_ttl: 1h}",
      settings.limits ? "rate_limits: {per_user: {points: 1000000000, duration: 1m}}" : "rate_limits: {enabled: false}",
      "log: {level: warn, requests: false}",
      "",
    ].join("\n"),
  );
  const { pid } = await startProcess(`gateway (workers: ${workers})`, process.execPath, [CLI, "--config", file], port);
  // `workers: 1` serves in the process itself (no cluster, no primary).
  let pids = workers === 1 ? [pid] : [];
  for (let i = 0; pids.length < workers; i++) {
    if (i === 200) throw new Error(`workers: ${workers}: ${pids.length} workers after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    pids = childPids(pid);
  }
  const primary = workers === 1 ? undefined : pid;
  if (settings.pin) {
    if (primary) taskset(lastCpu, primary);
    for (const [i, worker] of pids.entries()) taskset(String(Math.min(i, cpus - 1)), worker);
  }
  const response = await fetch(`http://127.0.0.1:${port}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "bench" }, password: "bench" }),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${JSON.stringify(body)}`);
  return { port, primary, workers: pids, token: body.access_token };
}

/** The child processes of `pid` (the gateway's workers), from /proc. */
function childPids(pid) {
  return readdirSync(`/proc/${pid}/task`)
    .flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/))
    .filter(Boolean)
    .map(Number);
}

function markdown(r) {
  const f = (digits) => (v) => v.toFixed(digits);
  const row = (workers, s) => [
    String(workers),
    f(0)(s.rps),
    f(2)(s.p50Ms),
    f(2)(s.p99Ms),
    f(0)(s.cpuUs),
    f(1)(s.primaryCpuUs),
    f(2)(s.cores),
  ];
  return [
    `Run of ${r.date}: ${r.machine.cpus} (nproc ${r.machine.nproc}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, ${r.machine.os}; ` +
      `1-min load average ${r.machine.loadAverage.start.toFixed(2)} at the start, ${r.machine.loadAverage.end.toFixed(2)} at the end. Total ${r.totalSeconds.toFixed(0)} s.`,
    `GET ${WHOAMI} through the gateway's CLI (sqlite store, cached session, ` +
      `${r.settings.limits ? "rate limits on with the per-user limit raised" : "rate limits off"}, no request log); ` +
      `${r.settings.loadGenerator}, ${r.settings.connections} keep-alive connections; ${r.settings.rounds} interleaved rounds × ${r.settings.seconds} s ` +
      `after ${WARMUP_SECONDS} s of warm-up each; medians of the rounds. CPUs: ${r.settings.sharing}.`,
    "",
    table(
      ["workers", "req/s", "p50 ms", "p99 ms", "gateway CPU µs/req", "of which the primary", "cores the gateway got"],
      [row(1, r.one), row(2, r.two)],
    ),
    "",
    `- 2 workers ÷ 1 worker: **${r.ratio.toFixed(2)}×** the requests/s (round by round ${r.ratios.map((x) => `${x.toFixed(2)}×`).join(", ")}).`,
    `- CPU per request with two workers ÷ with one: ${r.cpuRatio.toFixed(2)}×. Estimate for two free cores (each worker at the ` +
      `two-worker cost, against one worker on one core): 2 × ${r.one.cpuUs.toFixed(0)} ÷ ${r.two.cpuUs.toFixed(0)} = ${r.freeCoresEstimate.toFixed(2)}×.`,
    "",
    "Rounds:",
    "",
    table(
      ["workers", "round", "req/s", "p99 ms", "CPU µs/req", "primary µs/req", "cores per worker", "load average", "errors", "non-2xx"],
      [1, 2].flatMap((workers) =>
        r.rounds[workers].map((x, i) => [
          String(workers),
          String(i + 1),
          f(0)(x.rps),
          f(2)(x.p99Ms),
          f(0)(x.cpuUs),
          f(1)(x.primaryCpuUs),
          x.workerCores.map(f(2)).join(" + "),
          f(2)(x.loadAverage),
          String(x.errors),
          String(x.non2xx),
        ]),
      ),
    ),
    "",
  ].join("\n");
}
