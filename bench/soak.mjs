#!/usr/bin/env node
/**
 * `npm run bench:soak`: "resident memory stays flat (±10%) over a loopback soak after warm-up" (issue 8: 2 minutes,
 * the default; issue 16: 10 minutes, BENCH_SOAK_SECONDS=600). Starts the bench upstream and the gateway as shipped
 * (`defaults: true`: request log on, rate limits on; sqlite store in a temporary directory), drives a mixed load
 * at a fixed offered rate (scenarios/soak-load.mjs), and samples the gateway's resident set size (VmRSS), its heap
 * and the machine's load average every few seconds. Needs a build (`npm run build`). Writes
 * bench/results/BENCH_SOAK_OUTPUT.{md,json,svg,csv}; exits 1 when the RSS left the band.
 *
 * The load: authenticated GET whoami and GET /sync (half each) with the tokens of BENCH_SOAK_SESSIONS sessions of
 * distinct users (so the per-user limit, 600/min, is never reached), and a share with the newest tokens of the
 * sessions logged in and refreshed; POST login with `refresh_token: true` (the upstream answers it); POST refresh
 * of those logins' refresh tokens, each chain at most every 10 s (the per-session limit is 10/min), only the
 * newest chains (older ones are clients that went away). Logins and refreshes come from as many loopback source
 * addresses as the shipped limits need. Sessions are thus created, rotated and cached continuously, and the
 * caches (session cache, verified tokens, limiter keys) see new keys all the time.
 *
 * Environment (defaults in brackets):
 *   BENCH_SOAK_RATE [1500]          requests/s offered in total (logins and refreshes included)
 *   BENCH_SOAK_LOGIN_RATE [5]       logins/s
 *   BENCH_SOAK_REFRESH_RATE [10]    refreshes/s
 *   BENCH_SOAK_WARMUP [20]          seconds of load before the baseline sample
 *   BENCH_SOAK_SECONDS [120]        seconds of the soak after the baseline
 *   BENCH_SOAK_SAMPLE [5]           seconds between RSS samples
 *   BENCH_SOAK_SESSIONS [2000]      seeded sessions (one user each) for the GETs
 *   BENCH_SOAK_CONNECTIONS [64]     keep-alive connections (and concurrency cap) of the GETs, from 4 addresses
 *   BENCH_SOAK_TOLERANCE [10]       allowed deviation from the baseline, %
 *   BENCH_SOAK_OUTPUT [soak]        results are written to bench/results/BENCH_SOAK_OUTPUT.{md,json,svg}
 *   BENCH_SOAK_NODE_FLAGS [unset]   Node/V8 flags for the gateway, e.g. "--max-semi-space-size=16" (diagnosis)
 *   BENCH_SOAK_FORCE_GC [unset]     1: a full GC before every sample (diagnosis: the RSS then shows what is kept,
 *                                   not garbage waiting for V8's next major GC)
 *
 * The gateway runs with `--inspect` on a free loopback port: this process reads its heap (`process.memoryUsage()`)
 * at every sample and forces one full GC after the soak, through the DevTools protocol.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "undici";
import { cpuMicros, freePort, rssBytes, startNode, stopAll } from "./lib/children.mjs";
import { table, writeResults } from "./lib/report.mjs";
import { machineInfo, positiveNumber } from "./lib/run-info.mjs";
import { bandChart } from "./lib/svg.mjs";
import { createLoad, REFRESH_INTERVAL_MS } from "./scenarios/soak-load.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, "results");

const MIB = 1024 * 1024;
const mib = (bytes) => (bytes / MIB).toFixed(1);
const pct = (fraction) => `${fraction >= 0 ? "+" : ""}${(fraction * 100).toFixed(1)}%`;
const ms = (v) => (v === undefined ? "–" : v.toFixed(2));

const settings = {
  rate: positiveNumber("BENCH_SOAK_RATE", 1500),
  loginRate: positiveNumber("BENCH_SOAK_LOGIN_RATE", 5),
  refreshRate: positiveNumber("BENCH_SOAK_REFRESH_RATE", 10),
  warmupSec: positiveNumber("BENCH_SOAK_WARMUP", 20),
  soakSec: positiveNumber("BENCH_SOAK_SECONDS", 120),
  sampleSec: positiveNumber("BENCH_SOAK_SAMPLE", 5),
  sessions: positiveNumber("BENCH_SOAK_SESSIONS", 2000),
  connections: positiveNumber("BENCH_SOAK_CONNECTIONS", 64),
  tolerancePct: positiveNumber("BENCH_SOAK_TOLERANCE", 10),
  forceGc: process.env.BENCH_SOAK_FORCE_GC === "1",
  gatewayFlags: process.env.BENCH_SOAK_NODE_FLAGS?.split(" ").filter(Boolean) ?? [],
};
settings.getRate = settings.rate - settings.loginRate - settings.refreshRate;
if (settings.getRate <= 0) throw new Error("BENCH_SOAK_RATE must exceed the login and refresh rates");
// Chains kept refreshing: enough for the refresh rate at one refresh per chain per interval, with room.
settings.chains = Math.ceil((settings.refreshRate * REFRESH_INTERVAL_MS * 1.5) / 1000);
const output = process.env.BENCH_SOAK_OUTPUT ?? "soak";

const began = performance.now();
const loadAtStart = os.loadavg()[0];
const say = (text) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(3)} s] ${text}`);
const sleep = (delay) => new Promise((resolve) => setTimeout(resolve, delay));

if (!existsSync(path.join(here, "..", "dist", "src", "gateway.js"))) {
  console.error("bench:soak: dist/src/gateway.js is missing: run `npm run build` first.");
  process.exit(1);
}

// Whatever happens, stop: the warm-up, the soak and 90 s for start, seeding and the end.
const watchdog = setTimeout(
  () => {
    console.error("bench:soak: overran its time limit: stopping");
    stopAll().finally(() => process.exit(1));
  },
  (settings.warmupSec + settings.soakSec + 90) * 1000,
);
watchdog.unref();

const workDir = mkdtempSync(path.join(os.tmpdir(), "matrix-auth-gateway-soak-"));
process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));

let results;
try {
  results = await soak();
} finally {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
}
clearTimeout(watchdog);

writeResults(resultsDir, output, { markdown: markdown(results), json: results, svg: chart(results) });
// The curve as CSV too, for a spreadsheet or a plotting tool.
writeFileSync(
  path.join(resultsDir, `${output}.csv`),
  [
    "t_s,phase,rss_mib,heap_used_mib,heap_total_mib,new_space_mib,old_space_mib,load_average_1min",
    ...results.samples.map((x) =>
      [x.t, x.phase, ...[x.rssBytes, x.heapUsedBytes, x.heapTotalBytes, x.newSpaceBytes, x.oldSpaceBytes].map(mib), x.loadAverage].join(
        ",",
      ),
    ),
    "",
  ].join("\n"),
);
if (!results.memory.pass) process.exitCode = 1;

// ---------------------------------------------------------------------------------------------------

async function soak() {
  const upstream = await startNode("upstream", path.join(here, "servers", "upstream.mjs"));
  // The inspector (loopback, a free port) lets this process read the gateway's heap and force a full GC:
  // the RSS alone cannot tell garbage not yet collected from memory that is kept.
  const inspectPort = await freePort();
  const gateway = await startNode(
    "gateway",
    path.join(here, "servers", "gateway.mjs"),
    {
      upstream: `http://127.0.0.1:${upstream.port}`,
      store: { type: "sqlite", path: path.join(workDir, "gateway.sqlite") },
      defaults: true,
    },
    { execArgv: [`--inspect=127.0.0.1:${inspectPort}`, ...settings.gatewayFlags] },
  );
  const inspector = await connectInspector(inspectPort);
  say(`gateway pid ${gateway.pid} (defaults: request log and rate limits on, sqlite store); seeding ${settings.sessions} sessions`);
  const { tokens: seeded } = await gateway.call({ cmd: "seed", count: settings.sessions, distinctUsers: true });
  const load = createLoad(gateway.port, seeded, settings);

  const samples = [];
  const sample = async (phase) => {
    const t = (performance.now() - soakStart) / 1000;
    if (settings.forceGc) await inspector.collectGarbage();
    const rss = rssBytes(gateway.pid);
    const heap = await inspector.memoryUsage();
    samples.push({
      t: Math.round(t * 10) / 10,
      phase,
      rssBytes: rss,
      heapUsedBytes: heap.heapUsed,
      heapTotalBytes: heap.heapTotal,
      // V8's young generation grows (up to 128 MiB here) when many objects survive a scavenge, and keeps its size.
      newSpaceBytes: heap.newSpace,
      oldSpaceBytes: heap.oldSpace,
      // Other work on the machine (the 1-minute load average) beside each reading: a loaded machine slows the
      // gateway, and a slower gateway holds more requests (and their memory) in flight.
      loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
    });
  };

  say(
    `warm-up ${settings.warmupSec} s at ${settings.rate} req/s offered ` +
      `(${settings.getRate} GET, ${settings.loginRate} login, ${settings.refreshRate} refresh)`,
  );
  // Samples are timed from the soak's start: warm-up samples have negative times.
  let soakStart = performance.now() + settings.warmupSec * 1000;
  load.start("warmup");
  for (let t = -settings.warmupSec; t < 0; t += settings.sampleSec) {
    await sleepUntil(soakStart + t * 1000);
    await sample("warmup");
  }
  await sleepUntil(soakStart);
  soakStart = performance.now();
  load.phase("soak");
  const cpuBefore = { gateway: cpuMicros(gateway.pid), upstream: cpuMicros(upstream.pid), generator: process.cpuUsage() };
  await sample("soak");
  say(`baseline RSS ${(samples.at(-1).rssBytes / MIB).toFixed(1)} MiB; soak ${settings.soakSec} s, a sample every ${settings.sampleSec} s`);
  for (let t = settings.sampleSec; t <= settings.soakSec + 1e-9; t += settings.sampleSec) {
    await sleepUntil(soakStart + t * 1000);
    await sample("soak");
    const last = samples.at(-1);
    const base = samples.find((s) => s.phase === "soak").rssBytes;
    say(
      `t=${t.toFixed(0).padStart(3)} s  RSS ${(last.rssBytes / MIB).toFixed(1)} MiB (${pct(last.rssBytes / base - 1)})  ${load.progress()}`,
    );
  }
  const soakSeconds = (performance.now() - soakStart) / 1000;
  const cpuAfter = { gateway: cpuMicros(gateway.pid), upstream: cpuMicros(upstream.pid) };
  const generatorCpu = process.cpuUsage(cpuBefore.generator);
  await load.stop();
  const cache = await gateway.call({ cmd: "cacheStats" });
  // The load has stopped: what is left after a full collection is what the gateway keeps.
  await inspector.collectGarbage();
  const afterGc = { rssBytes: rssBytes(gateway.pid), heapUsedBytes: (await inspector.memoryUsage()).heapUsed };
  inspector.close();
  say(`after the load and a full GC: RSS ${mib(afterGc.rssBytes)} MiB, heap used ${mib(afterGc.heapUsedBytes)} MiB`);

  const kinds = load.summary(soakSeconds);
  const answered = Object.values(kinds.soak).reduce((n, k) => n + k.answered, 0);
  return {
    date: new Date().toISOString(),
    machine: machineInfo(loadAtStart),
    settings,
    memory: { ...memoryVerdict(samples), afterGc },
    requests: kinds,
    gatewayCpu: {
      percentOfOneCore: ((cpuAfter.gateway - cpuBefore.gateway) / 1e6 / soakSeconds) * 100,
      usPerRequest: (cpuAfter.gateway - cpuBefore.gateway) / answered,
      upstreamPercentOfOneCore: ((cpuAfter.upstream - cpuBefore.upstream) / 1e6 / soakSeconds) * 100,
      generatorPercentOfOneCore: ((generatorCpu.user + generatorCpu.system) / 1e6 / soakSeconds) * 100,
    },
    sessionCache: cache,
    samples,
    totalSeconds: (performance.now() - began) / 1000,
  };
}

/** A DevTools-protocol session with the gateway: a full GC and `process.memoryUsage()` on demand. */
async function connectInspector(port) {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("cannot connect to the gateway's inspector"));
  });
  const pending = new Map();
  let nextId = 1;
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (message) => (message.error ? reject(new Error(`${method}: ${message.error.message}`)) : resolve(message.result)));
      socket.send(JSON.stringify({ id, method, params }));
    });
  return {
    collectGarbage: () => send("HeapProfiler.collectGarbage"),
    async memoryUsage() {
      const expression = `JSON.stringify({
        ...process.memoryUsage(),
        ...Object.fromEntries(process.getBuiltinModule("v8").getHeapSpaceStatistics()
          .filter((s) => s.space_name === "new_space" || s.space_name === "old_space")
          .map((s) => [s.space_name === "new_space" ? "newSpace" : "oldSpace", s.space_size])),
      })`;
      const { result } = await send("Runtime.evaluate", { expression, returnByValue: true });
      return JSON.parse(result.value);
    },
    close: () => socket.close(),
  };
}

async function sleepUntil(when) {
  const wait = when - performance.now();
  if (wait > 0) await sleep(wait);
}

/** Baseline, extremes, deviation and least-squares trend of the soak samples (warm-up samples left out). */
function memoryVerdict(samples) {
  const soakSamples = samples.filter((s) => s.phase === "soak");
  const rss = soakSamples.map((s) => s.rssBytes);
  const baseline = rss[0];
  const deviation = Math.max(...rss.map((v) => Math.abs(v / baseline - 1)));
  const n = soakSamples.length;
  const meanT = soakSamples.reduce((a, s) => a + s.t, 0) / n;
  const meanR = rss.reduce((a, v) => a + v, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of soakSamples) {
    num += (s.t - meanT) * (s.rssBytes - meanR);
    den += (s.t - meanT) ** 2;
  }
  const slopeBytesPerSec = den ? num / den : 0;
  return {
    samples: n,
    baselineBytes: baseline,
    minBytes: Math.min(...rss),
    maxBytes: Math.max(...rss),
    lastBytes: rss.at(-1),
    maxDeviationPct: deviation * 100,
    trendMiBPerMin: (slopeBytesPerSec * 60) / MIB,
    tolerancePct: settings.tolerancePct,
    pass: deviation * 100 <= settings.tolerancePct,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

function markdown(r) {
  const m = r.memory;
  const s = r.settings;
  const verdict = m.pass ? "PASS" : "FAIL";
  const statuses = (k) =>
    Object.entries(k.statuses)
      .filter(([code]) => code < 200 || code >= 300)
      .map(([code, count]) => `${count}× ${code}`)
      .join(", ") || "–";
  const kindRows = ["whoami", "sync", "login", "refresh"].map((name) => {
    const k = r.requests.soak[name];
    return [
      name,
      k.perSecond.toFixed(1),
      String(k.answered),
      String(k.answered - k.ok),
      statuses(k),
      String(k.errors),
      String(k.skipped),
      ms(k.p50Ms),
      ms(k.p99Ms),
    ];
  });
  const base = m.baselineBytes;
  return [
    `Run of ${r.date}: ${r.machine.cpus} (nproc ${r.machine.nproc}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, ${r.machine.os}; ` +
      `1-min load average ${r.machine.loadAverage.start.toFixed(2)} at the start, ${r.machine.loadAverage.end.toFixed(2)} at the end.`,
    `Settings: ${s.rate} req/s offered (${s.getRate} GET whoami/sync, ${s.loginRate} login, ${s.refreshRate} refresh), ` +
      `${s.warmupSec} s warm-up, ${s.soakSec} s soak, RSS every ${s.sampleSec} s; ${s.sessions} seeded sessions of distinct users, ` +
      `${r.requests.loginUsers} login users, at most ${s.chains} refresh chains; gateway with request log and rate limits as shipped, sqlite store.`,
    "",
    `### Gateway RSS over the soak: ${verdict} (±${m.tolerancePct}%)`,
    "",
    table(
      ["baseline MiB", "min MiB", "max MiB", "last MiB", "max deviation", "trend MiB/min", "samples", "result"],
      [
        [
          mib(base),
          mib(m.minBytes),
          mib(m.maxBytes),
          mib(m.lastBytes),
          `${m.maxDeviationPct.toFixed(1)}%`,
          `${m.trendMiBPerMin >= 0 ? "+" : ""}${m.trendMiBPerMin.toFixed(2)}`,
          String(m.samples),
          verdict,
        ],
      ],
    ),
    "",
    "### Requests during the soak",
    "",
    table(["kind", "answered/s", "answered", "non-2xx", "non-2xx statuses", "errors", "skipped", "p50 ms", "p99 ms"], kindRows),
    "",
    `- Gateway CPU over the soak: ${r.gatewayCpu.percentOfOneCore.toFixed(0)}% of one core, ` +
      `${r.gatewayCpu.usPerRequest.toFixed(0)} µs per answered request; upstream ${r.gatewayCpu.upstreamPercentOfOneCore.toFixed(0)}%, ` +
      `load generator ${r.gatewayCpu.generatorPercentOfOneCore.toFixed(0)}%.`,
    `- Session cache over the whole run (warm-up included): ${r.sessionCache.hits} hits, ${r.sessionCache.misses} misses.`,
    `- After the load stopped and one full GC (forced through the inspector): RSS ${mib(m.afterGc.rssBytes)} MiB ` +
      `(${pct(m.afterGc.rssBytes / base - 1)} against the baseline), heap used ${mib(m.afterGc.heapUsedBytes)} MiB ` +
      `(${mib(r.samples.find((x) => x.phase === "soak").heapUsedBytes)} MiB at the baseline sample).`,
    ...(s.gatewayFlags.length ? [`- The gateway ran with \`${s.gatewayFlags.join(" ")}\` (BENCH_SOAK_NODE_FLAGS).`] : []),
    ...(s.forceGc
      ? ["- BENCH_SOAK_FORCE_GC=1: a full GC was forced before every sample (diagnosis run, not the issue's measurement)."]
      : []),
    "- skipped: requests the generator did not send because the kind's concurrency cap was reached; nothing is queued. " +
      `Refresh ticks with no chain that had waited its 10 s were left out too: ${r.requests.soak.refresh.notDue} in the soak.`,
    "",
    "### Samples",
    "",
    table(
      ["t s", "phase", "RSS MiB", "vs baseline", "heap used MiB", "heap total MiB", "new space MiB", "old space MiB", "load average"],
      r.samples.map((x) => [
        x.t.toFixed(0),
        x.phase,
        mib(x.rssBytes),
        x.phase === "soak" ? pct(x.rssBytes / base - 1) : "–",
        mib(x.heapUsedBytes),
        mib(x.heapTotalBytes),
        mib(x.newSpaceBytes),
        mib(x.oldSpaceBytes),
        x.loadAverage === undefined ? "–" : x.loadAverage.toFixed(2),
      ]),
    ),
    "",
  ].join("\n");
}

/** RSS over time: the ±tolerance band around the baseline, warm-up shaded (bench/lib/svg.mjs). */
function chart(r) {
  const m = r.memory;
  const base = m.baselineBytes / MIB;
  return bandChart({
    title: `gateway RSS under ${r.settings.rate} req/s (loopback soak): ${m.pass ? "PASS" : "FAIL"}`,
    subtitle: `${r.date.slice(0, 10)} · nproc ${r.machine.nproc} · Node ${r.machine.node} · band ±${m.tolerancePct}% of the baseline ${base.toFixed(1)} MiB`,
    points: r.samples.map((s) => ({ t: s.t, v: s.rssBytes / MIB })),
    baseline: base,
    band: base * (m.tolerancePct / 100),
    xLabel: "seconds from the baseline (grey: warm-up)",
    yLabel: "RSS MiB",
  });
}
