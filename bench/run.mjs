/**
 * `npm run bench`: the whole benchmark in one run, on 127.0.0.1 only, about 6 minutes with the defaults.
 * Needs a build (`npm run build`). Prints the tables and writes bench/results/latest.{md,json,svg}.
 *
 * Environment (defaults in brackets):
 *   BENCH_ROUNDS [5]            interleaved rounds of the HTTP scenarios (ratios to bare are paired by round)
 *   BENCH_DURATION [3]          measured seconds per scenario and round
 *   BENCH_WARMUP [3]            unmeasured seconds before each scenario's first measured run (V8 needs a few
 *                               seconds of load to optimise the gateway's code: 1 s left round 1 up to 2× slower)
 *   BENCH_CONNECTIONS [32]      concurrent connections of the load generator
 *   BENCH_MISS_SESSIONS [2000]  sessions whose tokens rotate in the cache-miss and defaults scenarios
 *   BENCH_REPLICAS [2]          processes per gateway scenario (hit, miss, defaults), used in turn by round
 *   BENCH_SIDE_BY_SIDE [5]      rounds of each gateway scenario loaded at the same time as bare http-proxy-3 (0: none)
 *   BENCH_SIDE_BY_SIDE_WARMUP [20]  unmeasured seconds, both loaded, before each scenario's side-by-side rounds
 *   BENCH_REFRESH_SECONDS [2]   measured seconds of each refresh run
 *   BENCH_SESSIONS [100000]     live sessions for the memory footprint
 *   BENCH_SESSIONS_MAX_SECONDS [60]  time cap for creating them
 *   BENCH_ONLY                  "http" or "sessions" to run one family
 *   BENCH_OUTPUT [latest]       results are written to bench/results/BENCH_OUTPUT.{md,json,svg}
 *   BENCH_SCENARIOS             comma-separated scenario id prefixes to keep, e.g. "bare/,hit/,defaults/"
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stopAll } from "./lib/children.mjs";
import { chart, markdown, writeResults } from "./lib/report.mjs";
import { machineInfo, positiveNumber } from "./lib/run-info.mjs";
import { runHttpBench } from "./scenarios/proxy.mjs";
import { runSessionBench } from "./scenarios/sessions.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, "results");

const settings = {
  rounds: positiveNumber("BENCH_ROUNDS", 5),
  durationSec: positiveNumber("BENCH_DURATION", 3),
  warmupSec: Number(process.env.BENCH_WARMUP ?? 3),
  connections: positiveNumber("BENCH_CONNECTIONS", 32),
  missSessions: positiveNumber("BENCH_MISS_SESSIONS", 2000),
  replicas: positiveNumber("BENCH_REPLICAS", 2),
  sideBySideRounds: Number(process.env.BENCH_SIDE_BY_SIDE ?? 5),
  sideBySideWarmupSec: Number(process.env.BENCH_SIDE_BY_SIDE_WARMUP ?? 20),
  refreshSec: positiveNumber("BENCH_REFRESH_SECONDS", 2),
  footprintSessions: positiveNumber("BENCH_SESSIONS", 100_000),
  footprintMaxSec: positiveNumber("BENCH_SESSIONS_MAX_SECONDS", 60),
  scenarios: process.env.BENCH_SCENARIOS?.split(",").filter(Boolean),
};
const only = process.env.BENCH_ONLY;
const output = process.env.BENCH_OUTPUT ?? "latest";

const began = performance.now();
const loadAtStart = os.loadavg()[0];
const say = (text) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(3)} s] ${text}`);

if (!existsSync(path.join(here, "..", "dist", "src", "gateway.js"))) {
  console.error("bench: dist/src/gateway.js is missing: run `npm run build` first.");
  process.exit(1);
}

const workDir = mkdtempSync(path.join(os.tmpdir(), "matrix-auth-gateway-bench-"));
// Also when interrupted (children.mjs stops the servers and exits).
process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));
const emptyHttp = { rows: [], notes: ["skipped (BENCH_ONLY)"] };
const emptySessions = { refresh: [], footprint: [] };
let results;
try {
  const http = only === "sessions" ? emptyHttp : await runHttpBench(settings, workDir, say);
  await stopAll();
  const sessions = only === "http" ? emptySessions : await runSessionBench(settings, workDir, say);
  results = {
    date: new Date().toISOString(),
    machine: machineInfo(loadAtStart),
    settings,
    totalSeconds: (performance.now() - began) / 1000,
    http,
    sessions,
  };
} finally {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
}

writeResults(resultsDir, output, {
  markdown: markdown(results),
  json: results,
  svg: results.http.rows.length ? chart(results) : undefined,
});
