#!/usr/bin/env node
/**
 * `npm run bench:soak`: issue 8's "resident memory stays flat (±10%) over a 2-minute loopback soak after
 * warm-up". Starts the bench upstream and the gateway as shipped (`defaults: true`: request log on, rate
 * limits on; sqlite store in a temporary directory), drives a mixed load at a fixed offered rate, and samples
 * the gateway's resident set size (VmRSS) every few seconds. Needs a build (`npm run build`). Writes
 * bench/results/soak.{md,json,svg}; exits 1 when the RSS left the band.
 *
 * The load (one open-loop generator in this process, on undici; every kind has a concurrency cap and a
 * request that would exceed it is skipped and counted, so a slow gateway never builds a backlog here):
 * - authenticated GET whoami and GET /sync (half each) with the tokens of BENCH_SOAK_SESSIONS sessions of
 *   distinct users (so the per-user limit, 600/min, is never reached), and a share with the newest tokens
 *   of the sessions logged in and refreshed below;
 * - POST login with `refresh_token: true` (the upstream answers it), users in turn from a pool sized so
 *   that no account logs in more than 3 times in the run (the per-account limit is 5 per 30 min);
 * - POST refresh of those logins' refresh tokens, each chain at most every REFRESH_INTERVAL_MS (the
 *   per-session limit is 10/min); only the newest 1.5 × rate × 10 s chains keep refreshing (older ones are
 *   clients that went away).
 * Logins and refreshes come from many loopback source addresses (127.0.1.x, 127.0.2.x): the per-address
 * limits (login 10/min, refresh 60/min) stay as shipped and are not reached. Sessions are thus created,
 * rotated and cached continuously, and the caches (session cache, verified tokens, limiter keys) see
 * new keys all the time.
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
 *   BENCH_SOAK_FORCE_GC [unset]     1: a full GC before every sample (diagnosis: the RSS then shows what is kept,
 *                                   not garbage waiting for V8's next major GC)
 *
 * The gateway runs with `--inspect` on a free loopback port: this process reads its heap (`process.memoryUsage()`)
 * at every sample and forces one full GC after the soak, through the DevTools protocol.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client, Pool, WebSocket } from "undici";
import { cpuMicros, freePort, rssBytes, startNode, stopAll } from "./lib/children.mjs";
import { table, writeResults } from "./lib/report.mjs";
import { machineInfo, positiveNumber } from "./lib/run-info.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, "results");

const WHOAMI = "/_matrix/client/v3/account/whoami";
const SYNC = "/_matrix/client/v3/sync";
const LOGIN = "/_matrix/client/v3/login";
const REFRESH = "/_matrix/client/v3/refresh";
/** A chain is refreshed at most this often: 6/min, under the shipped per-session limit of 10/min. */
const REFRESH_INTERVAL_MS = 10_000;
/** Per-address budgets, under the shipped limits (login 10/min, refresh 60/min). */
const LOGINS_PER_ADDRESS_MINUTE = 6;
const REFRESHES_PER_ADDRESS_MINUTE = 40;
/** Logins per account in the whole run, under the shipped per-account limit (5 per 30 min). */
const LOGINS_PER_ACCOUNT = 3;
/** Share of the GETs sent with the newest token of a logged-in chain instead of a seeded token. */
const CHAIN_GET_SHARE = 0.15;
const TICK_MS = 10;
/** Source addresses of the GETs (127.0.0.1 and up). */
const GET_ADDRESSES = 4;
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
    { execArgv: [`--inspect=127.0.0.1:${inspectPort}`] },
  );
  const inspector = await connectInspector(inspectPort);
  say(`gateway pid ${gateway.pid} (defaults: request log and rate limits on, sqlite store); seeding ${settings.sessions} sessions`);
  const { tokens: seeded } = await gateway.call({ cmd: "seed", count: settings.sessions, distinctUsers: true });
  const load = createLoad(gateway.port, seeded);

  const samples = [];
  const sample = async (phase) => {
    const t = (performance.now() - soakStart) / 1000;
    if (settings.forceGc) await inspector.collectGarbage();
    const rss = rssBytes(gateway.pid);
    const heap = await inspector.memoryUsage();
    samples.push({ t: Math.round(t * 10) / 10, phase, rssBytes: rss, heapUsedBytes: heap.heapUsed, heapTotalBytes: heap.heapTotal });
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
      const { result } = await send("Runtime.evaluate", { expression: "JSON.stringify(process.memoryUsage())", returnByValue: true });
      return JSON.parse(result.value);
    },
    close: () => socket.close(),
  };
}

async function sleepUntil(when) {
  const wait = when - performance.now();
  if (wait > 0) await sleep(wait);
}

/**
 * The load generator: per kind, the requests due at its rate since the phase began are sent every tick;
 * a request over the kind's concurrency cap is skipped and counted instead of queued.
 */
function createLoad(port, seeded) {
  const origin = `http://127.0.0.1:${port}`;
  const timeouts = { headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 30_000 };
  // The GETs come from a few source addresses (the shipped cap of 64 requests in flight per address).
  const gets = Array.from(
    { length: GET_ADDRESSES },
    (_, i) =>
      new Pool(origin, {
        connections: Math.ceil(settings.connections / GET_ADDRESSES),
        pipelining: 1,
        localAddress: `127.0.0.${i + 1}`,
        ...timeouts,
      }),
  );
  let nextGet = 0;
  // One keep-alive connection per source address: each address is one client as far as the limits go.
  const addresses = (third, count) =>
    Array.from({ length: count }, (_, i) => new Client(origin, { localAddress: `127.0.${third}.${i + 1}`, ...timeouts }));
  const loginClients = addresses(1, Math.ceil((settings.loginRate * 60) / LOGINS_PER_ADDRESS_MINUTE));
  const refreshClients = addresses(2, Math.ceil((settings.refreshRate * 60) / REFRESHES_PER_ADDRESS_MINUTE));
  const loginUsers = Math.ceil((settings.loginRate * (settings.warmupSec + settings.soakSec)) / LOGINS_PER_ACCOUNT) + 1;
  let nextLogin = 0;
  let nextRefresh = 0;
  /** Logged-in clients, the one refreshed longest ago first: {user, accessToken, refreshToken, refreshedAt}. */
  const chains = [];

  const newStats = () => ({ sent: 0, answered: 0, ok: 0, statuses: {}, errors: 0, skipped: 0, notDue: 0, latencies: [] });
  // whoami and sync share one concurrency cap: the GET connections.
  const getSlots = { cap: settings.connections, inFlight: 0 };
  const kinds = {
    whoami: getSlots,
    sync: getSlots,
    login: { cap: loginClients.length, inFlight: 0 },
    refresh: { cap: refreshClients.length, inFlight: 0 },
  };
  const stats = { warmup: {}, soak: {} };
  for (const phase of Object.keys(stats)) for (const name of Object.keys(kinds)) stats[phase][name] = newStats();
  let phase = "warmup";
  let phaseStart = 0;
  let due = { get: 0, login: 0, refresh: 0 };
  let timer;

  async function send(name, dispatcher, request, onBody) {
    const kind = kinds[name];
    const s = stats[phase][name];
    if (kind.inFlight >= kind.cap) {
      s.skipped++;
      return;
    }
    kind.inFlight++;
    s.sent++;
    const started = performance.now();
    try {
      const { statusCode, body } = await dispatcher.request(request);
      if (statusCode >= 200 && statusCode < 300 && onBody) await onBody(await body.json());
      else await body.dump();
      s.answered++;
      s.statuses[statusCode] = (s.statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        s.ok++;
        s.latencies.push(performance.now() - started);
      }
    } catch {
      s.errors++;
    } finally {
      kind.inFlight--;
    }
  }

  function get() {
    const chain = chains.length && Math.random() < CHAIN_GET_SHARE ? chains[Math.floor(Math.random() * chains.length)] : undefined;
    const token = chain?.accessToken ?? seeded[Math.floor(Math.random() * seeded.length)];
    const name = Math.random() < 0.5 ? "whoami" : "sync";
    void send(name, gets[nextGet++ % gets.length], {
      method: "GET",
      path: name === "whoami" ? WHOAMI : SYNC,
      headers: { authorization: `Bearer ${token}` },
    });
  }

  function login() {
    const user = `soak${nextLogin % loginUsers}`;
    const client = loginClients[nextLogin++ % loginClients.length];
    const body = JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password: "soak",
      refresh_token: true,
    });
    void send("login", client, { method: "POST", path: LOGIN, headers: { "content-type": "application/json" }, body }, (answer) => {
      chains.push({ user, accessToken: answer.access_token, refreshToken: answer.refresh_token, refreshedAt: performance.now() });
      // Only the newest chains keep refreshing: the oldest client goes away.
      if (chains.length > settings.chains) chains.shift();
    });
  }

  function refresh() {
    const head = chains[0];
    if (!head || performance.now() - head.refreshedAt < REFRESH_INTERVAL_MS) {
      stats[phase].refresh.notDue++;
      return;
    }
    // Out of the list while in flight: no GET uses a token that is being replaced.
    chains.shift();
    const client = refreshClients[nextRefresh++ % refreshClients.length];
    const body = JSON.stringify({ refresh_token: head.refreshToken });
    void send("refresh", client, { method: "POST", path: REFRESH, headers: { "content-type": "application/json" }, body }, (answer) => {
      head.accessToken = answer.access_token;
      head.refreshToken = answer.refresh_token;
      head.refreshedAt = performance.now();
      chains.push(head);
      if (chains.length > settings.chains) chains.shift();
    });
  }

  function tick() {
    const elapsed = (performance.now() - phaseStart) / 1000;
    const fire = (key, rate, one) => {
      // Requests due since the phase began; after a stall (this process starved of CPU) at most one
      // second's worth is sent at once, the rest is dropped and counted as skipped.
      let n = Math.floor(elapsed * rate) - due[key];
      due[key] += n;
      const burst = Math.ceil(rate);
      if (n > burst) {
        const dropped = n - burst;
        if (key === "get") {
          stats[phase].whoami.skipped += Math.ceil(dropped / 2);
          stats[phase].sync.skipped += Math.floor(dropped / 2);
        } else {
          stats[phase][key].skipped += dropped;
        }
        n = burst;
      }
      for (let i = 0; i < n; i++) one();
    };
    fire("get", settings.getRate, get);
    fire("login", settings.loginRate, login);
    fire("refresh", settings.refreshRate, refresh);
  }

  return {
    start(name) {
      phase = name;
      phaseStart = performance.now();
      timer = setInterval(tick, TICK_MS);
    },
    /** A new phase: fresh counters, and the due counts start again from its beginning. */
    phase(name) {
      phase = name;
      phaseStart = performance.now();
      due = { get: 0, login: 0, refresh: 0 };
    },
    progress() {
      const s = stats[phase];
      const answered = Object.values(s).reduce((n, k) => n + k.answered, 0);
      const non2xx = Object.values(s).reduce((n, k) => n + k.answered - k.ok, 0);
      return `${answered} answered, ${non2xx} non-2xx, ${chains.length} chains`;
    },
    async stop() {
      clearInterval(timer);
      const deadline = performance.now() + 5000;
      while (Object.values(kinds).some((k) => k.inFlight > 0) && performance.now() < deadline) await sleep(20);
      await Promise.all([...gets, ...loginClients, ...refreshClients].map((d) => d.destroy()));
    },
    summary(soakSeconds) {
      const out = {};
      for (const [phaseName, byKind] of Object.entries(stats)) {
        out[phaseName] = {};
        for (const [name, s] of Object.entries(byKind)) {
          const sorted = s.latencies.sort((a, b) => a - b);
          const { latencies, ...rest } = s;
          out[phaseName][name] = {
            ...rest,
            perSecond: phaseName === "soak" ? s.answered / soakSeconds : undefined,
            p50Ms: percentile(sorted, 0.5),
            p99Ms: percentile(sorted, 0.99),
          };
        }
      }
      out.loginUsers = loginUsers;
      out.loginAddresses = loginClients.length;
      out.refreshAddresses = refreshClients.length;
      return out;
    },
  };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
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
    ...(s.forceGc
      ? ["- BENCH_SOAK_FORCE_GC=1: a full GC was forced before every sample (diagnosis run, not the issue's measurement)."]
      : []),
    "- skipped: requests the generator did not send because the kind's concurrency cap was reached; nothing is queued. " +
      `Refresh ticks with no chain that had waited its 10 s were left out too: ${r.requests.soak.refresh.notDue} in the soak.`,
    "",
    "### Samples",
    "",
    table(
      ["t s", "phase", "RSS MiB", "vs baseline", "heap used MiB", "heap total MiB"],
      r.samples.map((x) => [
        x.t.toFixed(0),
        x.phase,
        mib(x.rssBytes),
        x.phase === "soak" ? pct(x.rssBytes / base - 1) : "–",
        mib(x.heapUsedBytes),
        mib(x.heapTotalBytes),
      ]),
    ),
    "",
  ].join("\n");
}

/** RSS over time as a small line chart: the ±tolerance band around the baseline, warm-up shaded. */
function chart(r) {
  const width = 720;
  const height = 320;
  const left = 60;
  const right = 20;
  const top = 50;
  const bottom = 40;
  const m = r.memory;
  const base = m.baselineBytes / MIB;
  const band = base * (m.tolerancePct / 100);
  const points = r.samples.map((s) => ({ t: s.t, v: s.rssBytes / MIB }));
  const tMin = Math.min(0, ...points.map((p) => p.t));
  const tMax = Math.max(1, ...points.map((p) => p.t));
  const vMin = Math.min(base - band * 1.5, ...points.map((p) => p.v));
  const vMax = Math.max(base + band * 1.5, ...points.map((p) => p.v));
  const x = (t) => left + ((t - tMin) / (tMax - tMin)) * (width - left - right);
  const y = (v) => top + (1 - (v - vMin) / (vMax - vMin)) * (height - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">gateway RSS under ${r.settings.rate} req/s (loopback soak): ${m.pass ? "PASS" : "FAIL"}</text>`,
    `<text x="${left}" y="40" fill="#555">${r.date.slice(0, 10)} · nproc ${r.machine.nproc} · Node ${r.machine.node} · band ±${m.tolerancePct}% of the baseline ${base.toFixed(1)} MiB</text>`,
    `<rect x="${x(tMin).toFixed(1)}" y="${top}" width="${(x(0) - x(tMin)).toFixed(1)}" height="${height - top - bottom}" fill="#f0f0f0"/>`,
    `<rect x="${x(0).toFixed(1)}" y="${y(base + band).toFixed(1)}" width="${(x(tMax) - x(0)).toFixed(1)}" height="${(y(base - band) - y(base + band)).toFixed(1)}" fill="#e3f0e3"/>`,
    `<line x1="${x(0).toFixed(1)}" x2="${x(tMax).toFixed(1)}" y1="${y(base).toFixed(1)}" y2="${y(base).toFixed(1)}" stroke="#5a9e5a" stroke-dasharray="4 3"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = vMin + ((vMax - vMin) * i) / 4;
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${v.toFixed(0)}</text>`);
  }
  // Ticks on round seconds: the smallest step that gives at most 8 of them.
  const step = [5, 10, 20, 30, 60, 120, 300, 600].find((s) => (tMax - tMin) / s <= 8) ?? 1200;
  for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) {
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" fill="#555">${t}</text>`);
  }
  parts.push(
    `<text x="${width - right}" y="${height - 6}" text-anchor="end" fill="#555">seconds from the baseline (grey: warm-up)</text>`,
    `<text x="14" y="${top + (height - top - bottom) / 2}" transform="rotate(-90 14 ${top + (height - top - bottom) / 2})" text-anchor="middle" fill="#555">RSS MiB</text>`,
    `<polyline fill="none" stroke="#e07b39" stroke-width="2" points="${points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ")}"/>`,
    ...points.map((p) => `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="2.5" fill="#e07b39"/>`),
    "</svg>",
    "",
  );
  return parts.join("\n");
}
