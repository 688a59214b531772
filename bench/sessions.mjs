/**
 * `npm run bench:sessions`: the session service with many sessions in the store (issues 8 and 16). Refresh with
 * 1,000 and with BENCH_STORED_SESSIONS sessions stored (the same 1,000 rotating): through the gateway's HTTP
 * server on sqlite (wrk, refreshes/s, p50/p99, the gateway's CPU per refresh), and the session service called
 * directly on the memory and sqlite stores (one caller: ops/s, p50/p99 of each `refresh()` call, CPU per
 * operation, resident memory); then
 * resident memory with 100,000 and BENCH_STORED_SESSIONS sessions in the store. About 3–5 minutes with the
 * defaults on 2 cores. Needs a build (`npm run build`). Prints the tables and writes
 * bench/results/BENCH_OUTPUT.{md,json}.
 *
 * Environment (defaults in brackets):
 *   BENCH_STORED_SESSIONS [1000000]   the large number of stored sessions
 *   BENCH_ROUNDS [5]                  interleaved rounds of the four refresh runs
 *   BENCH_REFRESH_SECONDS [2]         measured seconds of each refresh run and round (after 0.3 s of warm-up)
 *   BENCH_FILL_MAX_SECONDS [150]      time cap for filling one store (fewer sessions are reported when it is hit)
 *   BENCH_OUTPUT [sessions]           results are written to bench/results/BENCH_OUTPUT.{md,json}
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stopAll } from "./lib/children.mjs";
import { table, writeResults } from "./lib/report.mjs";
import { machineInfo, positiveNumber } from "./lib/run-info.mjs";
import { runSessionsAtScale } from "./scenarios/sessions.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, "results");

const settings = {
  storedSessions: Math.max(1000, Math.round(positiveNumber("BENCH_STORED_SESSIONS", 1_000_000))),
  rounds: positiveNumber("BENCH_ROUNDS", 5),
  refreshSec: positiveNumber("BENCH_REFRESH_SECONDS", 2),
  fillMaxSec: positiveNumber("BENCH_FILL_MAX_SECONDS", 150),
};
const output = process.env.BENCH_OUTPUT ?? "sessions";

const began = performance.now();
const loadAtStart = os.loadavg()[0];
const say = (text) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(3)} s] ${text}`);

if (!existsSync(path.join(here, "..", "dist", "src", "auth", "sessions.js"))) {
  console.error("bench: dist/src/auth/sessions.js is missing: run `npm run build` first.");
  process.exit(1);
}

const workDir = mkdtempSync(path.join(os.tmpdir(), "matrix-auth-gateway-bench-sessions-"));
// Also when interrupted (children.mjs stops the children and exits).
process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));
let results;
try {
  const sessions = await runSessionsAtScale(settings, workDir, say);
  results = {
    date: new Date().toISOString(),
    machine: machineInfo(loadAtStart),
    settings,
    totalSeconds: (performance.now() - began) / 1000,
    ...sessions,
  };
} finally {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
}

writeResults(resultsDir, output, { markdown: markdown(results), json: results });

// ---------------------------------------------------------------------------------------------------

function markdown({ date, machine, settings, totalSeconds, refresh, ratios, footprint, notes }) {
  const fixed = (digits) => (v) => (v === undefined || Number.isNaN(v) ? "–" : v.toFixed(digits));
  const mib = (bytes) => (bytes === undefined ? "–" : (bytes / 1048576).toFixed(1));
  const times = (v) => (v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(2)}×`);
  const count = (row) => `${row.stored}${row.stored < row.requested ? ` of ${row.requested} (time cap)` : ""}`;
  const ratio = (row) => ratios.find((r) => r.store === row.store && r.via === row.via);
  const loads = (row) => row.rounds.map((r) => r.loadAverage.toFixed(1)).join(", ");
  const direct = refresh.filter((r) => r.via === "direct");
  const http = refresh.filter((r) => r.via === "http");
  return [
    `Run of ${date}: ${machine.cpus} (nproc ${machine.nproc}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}; ` +
      `1-min load average ${machine.loadAverage.start.toFixed(1)} at the start, ${machine.loadAverage.end.toFixed(1)} at the end. ` +
      `Total time ${totalSeconds.toFixed(0)} s.`,
    `Refresh: ${settings.rounds} interleaved rounds × ${settings.refreshSec} s measured per run, medians of the rounds; ` +
      "the refresh tokens of 1,000 sessions rotating, spread evenly among the stored ones. Sqlite stores filled in bulk in one " +
      "transaction by a seed process (time to store).",
    "",
    "### Refresh through HTTP (`POST /_matrix/client/v3/refresh`, the gateway on the sqlite store, one process)",
    "",
    `Logs at warn and rate limits off (the per-session limit, 10/min, would stop a chain at once). ${notes.http}`,
    "",
    table(
      [
        "stored sessions",
        "time to store s",
        "refreshes/s",
        "p50 µs",
        "p99 µs",
        "gateway CPU µs/refresh",
        "others on CPU 0",
        "chains left",
        "non-2xx + errors",
        "RSS MiB",
        "p99 ÷ 1,000 stored",
        "load average by round",
      ],
      http.map((r) => [
        count(r),
        fixed(1)(r.fillSeconds),
        fixed(0)(r.opsPerSec),
        fixed(0)(r.p50Us),
        fixed(0)(r.p99Us),
        fixed(1)(r.cpuUsPerOp),
        r.foreignShare === undefined ? "–" : `${(r.foreignShare * 100).toFixed(0)}%`,
        `${r.chainsLeft} of ${r.rotated}`,
        String(r.failed),
        mib(r.rssBytes),
        r.requested === 1000 ? "–" : times(ratio(r).p99Ratio),
        loads(r),
      ]),
    ),
    "",
    "- chains left: a chain whose request was in flight when a run ended lost its newest token and drops out.",
    "",
    "### Refresh with many stored sessions (session service called directly, one caller)",
    "",
    table(
      [
        "store",
        "stored sessions",
        "time to store s",
        "refresh ops/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "CPU µs/op (system)",
        "process RSS MiB",
        "p99 ÷ 1,000 stored",
        "load average by round",
      ],
      direct.map((r) => [
        r.store,
        count(r),
        fixed(1)(r.fillSeconds),
        fixed(0)(r.opsPerSec),
        fixed(0)(r.p50Us),
        fixed(0)(r.p99Us),
        fixed(0)(r.p999Us),
        fixed(0)(r.maxUs),
        `${fixed(1)(r.cpuUsPerOp)} (${fixed(1)(r.systemCpuUsPerOp)})`,
        mib(r.rssBytes),
        r.requested === 1000 ? "–" : times(ratio(r).p99Ratio),
        loads(r),
      ]),
    ),
    "",
    ...ratios.map(
      (r) =>
        `- ${r.via === "http" ? "HTTP, " : ""}${r.store}: with ${settings.storedSessions} stored ÷ with 1,000, median of the rounds' ratios: p99 ${times(r.p99Ratio)} ` +
        `(round by round ${r.p99RoundRatios.map(times).join(", ")}; ratio of the medians ${times(r.p99RatioOfMedians)}), ` +
        `p50 ${times(r.p50Ratio)}, p99.9 ${times(r.p999Ratio)}, ops/s ${times(r.opsRatio)}, CPU/op ${times(r.cpuRatio)}.`,
    ),
    "",
    "### Memory with live sessions in the store (the most recent 100,000 looked up through `authenticate`: session cache full)",
    "",
    table(
      [
        "store",
        "sessions in store",
        "looked up",
        "time to store s",
        "time to look up s",
        "process RSS MiB",
        "RSS growth MiB",
        "bytes/session (RSS)",
        "heap growth MiB",
        "sqlite file MiB",
      ],
      footprint.map((f) => [
        f.store,
        `${f.created}${f.created < f.requested ? ` of ${f.requested} (time cap)` : ""}`,
        String(f.used),
        fixed(1)(f.fillSeconds),
        fixed(1)(f.seconds),
        mib(f.rssBytes),
        mib(f.rssDeltaBytes),
        fixed(0)(f.rssDeltaBytes / f.created),
        mib(f.heapDeltaBytes),
        mib(f.fileBytes),
      ]),
    ),
    "",
  ].join("\n");
}
