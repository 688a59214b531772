/**
 * The session-service family, each measurement in a fresh child process (session-service.mjs):
 * refresh rotations per second, and resident memory with many live sessions, on the memory and sqlite stores.
 * `runSessionBench` is part of `npm run bench`; `runSessionsAtScale` is `npm run bench:sessions` (sessions.mjs).
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { rssBytes, runNode, startNode } from "../lib/children.mjs";
import { describePinning, pinServer, releasePinning, setUpPinning } from "../lib/cpu-pinning.mjs";
import { LOAD_GENERATOR, measure as measureHttp, warmUp } from "../lib/load.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, "session-service.mjs");
const STORES = ["memory", "sqlite"];
/** session-service.mjs's JWT secret, from which the store's key is derived: a gateway given it opens a seeded file. */
const SEED_JWT_SECRET = "k".repeat(48);
const REFRESH_PATH = "/_matrix/client/v3/refresh";
/** Keep-alive connections of the load generator in the HTTP refresh runs: each carries one chain at a time. */
const HTTP_CONNECTIONS = 16;
/** Children start while other configurations fill their stores: on a busy 2-core machine that can take a while. */
const START_BESIDE_FILLS_MS = 120_000;
/** Unmeasured seconds of HTTP refreshes before each measured run (wrk takes whole seconds). */
const HTTP_WARMUP_SECONDS = 1;

export async function runSessionBench(settings, workDir, say) {
  const refresh = [];
  for (const store of STORES) {
    const result = await runNode(`refresh (${store})`, child, {
      mode: "refresh",
      store,
      path: path.join(workDir, `refresh-${store}.sqlite`),
      sessions: 1000,
      seconds: settings.refreshSec,
    });
    say(
      `refresh, ${store} store: ${result.opsPerSec.toFixed(0)} ops/s, p50 ${result.p50Us.toFixed(0)} µs, ` +
        `p99 ${result.p99Us.toFixed(0)} µs, ${result.cpuUsPerOp.toFixed(1)} µs CPU/op`,
    );
    refresh.push({ store, ...result });
  }

  // The two footprint children run side by side (one core each): their memory is measured, not their speed.
  const footprint = await Promise.all(
    STORES.map(async (store) => {
      const result = await runNode(
        `footprint (${store})`,
        child,
        {
          mode: "footprint",
          store,
          path: path.join(workDir, `footprint-${store}.sqlite`),
          sessions: settings.footprintSessions,
          maxSeconds: settings.footprintMaxSec,
        },
        { execArgv: ["--expose-gc"], timeoutMs: (settings.footprintMaxSec + 60) * 1000 },
      );
      say(
        `footprint, ${store} store: ${result.created} sessions in ${result.seconds.toFixed(1)} s, ` +
          `RSS ${mib(result.rssBytes)} MiB (+${mib(result.rssDeltaBytes)} MiB)`,
      );
      return { store, ...result };
    }),
  );
  return { refresh, footprint };
}

const mib = (bytes) => (bytes / 1048576).toFixed(1);

/** Sessions whose refresh tokens rotate round-robin in every refresh run. */
const ROTATED = 1000;
/** The default `store.cache_size`: the footprint looks up this many of the stored sessions (or all, if fewer). */
const CACHED = 100_000;
/** The median of the defined values (an HTTP run has no p99.9, a direct one no foreign share); undefined if none. */
const median = (values) => {
  const sorted = values.filter((v) => v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fileBytes = (file) => ["", "-wal"].reduce((sum, suffix) => sum + (statSync(file + suffix, { throwIfNoEntry: false })?.size ?? 0), 0);

/**
 * One refresh configuration made ready to measure: its store filled (sqlite: by a "seed" child), its process
 * started, `c.measure(seconds, pinning)` and `c.memory()` set. "direct": a session-service.mjs child rotates
 * through `sessions.refresh()`. "http": the gateway (servers/gateway.mjs, one process, logs and limits off)
 * on the seeded file, and wrk sending `POST /_matrix/client/v3/refresh` with the seeded chains' tokens.
 */
async function prepareRefresh(c, { settings, seed, upstream, say }) {
  c.requested = c.stored;
  c.rounds = [];
  if (c.via === "http") {
    c.seeded = await seed(`HTTP refresh, ${c.stored}`, c.file, c.stored, ROTATED);
    c.chains = JSON.parse(readFileSync(`${c.file}.tokens.json`, "utf8")).tokens;
    c.child = await startNode(
      `gateway (HTTP refresh, ${c.stored} stored)`,
      path.join(here, "..", "servers", "gateway.mjs"),
      {
        upstream: `http://127.0.0.1:${upstream.port}`,
        store: { type: "sqlite", path: c.file },
        jwtSecret: SEED_JWT_SECRET,
      },
      { startTimeoutMs: START_BESIDE_FILLS_MS },
    );
    c.stored = c.seeded.stored;
    c.rotated = c.chains.length;
    c.fillSeconds = c.seeded.seconds;
    c.measure = async (seconds, pinning) => {
      const run = {
        port: c.child.port,
        path: REFRESH_PATH,
        refreshChains: c.chains,
        connections: HTTP_CONNECTIONS,
        proxyPid: c.child.pid,
        serverCpu: pinning.pinned ? pinning.serverCpu : undefined,
      };
      await warmUp(run, HTTP_WARMUP_SECONDS);
      const result = await measureHttp({ ...run, durationSec: seconds });
      return {
        // Answers other than 200 (a lost chain's token would be refused) and connection errors or timeouts.
        non2xx: result.non2xx,
        errors: result.errors,
        opsPerSec: result.requestsPerSec,
        p50Us: result.p50Ms * 1000,
        p99Us: result.p99Ms * 1000,
        cpuUsPerOp: result.proxyCpuUsPerReq,
        foreignShare: result.foreignShare,
        chains: c.chains.length,
      };
    };
    c.memory = async () => ({ rss: rssBytes(c.child.pid), fileBytes: fileBytes(c.file) });
    return;
  }
  const options = { mode: "refresh", serve: true, store: c.store, path: c.file, sessions: ROTATED, maxSeconds: settings.fillMaxSec };
  if (c.store === "sqlite") c.seeded = await seed(`sqlite refresh, ${c.stored}`, c.file, c.stored, ROTATED);
  else options.storedSessions = c.stored - ROTATED;
  c.child = await startNode(
    `refresh (${c.label})`,
    child,
    { ...options, prepared: c.store === "sqlite" },
    { execArgv: ["--expose-gc"], startTimeoutMs: START_BESIDE_FILLS_MS },
  );
  const prepared = await c.child.call({ cmd: "prepare" });
  c.stored = prepared.stored;
  c.rotated = prepared.rotated;
  c.fillSeconds = c.seeded?.seconds ?? prepared.seconds;
  if (c.store === "memory") say(`filled ${c.label}: ${c.stored} sessions in ${c.fillSeconds.toFixed(1)} s`);
  c.measure = async (seconds) => {
    const { id: _id, ...result } = await c.child.call({ cmd: "measure", seconds });
    return result;
  };
  c.memory = () => c.child.call({ cmd: "memory" });
}

const removeStoreFiles = (file) => {
  for (const suffix of ["", "-wal", "-shm", ".tokens.json"]) rmSync(file + suffix, { force: true });
};

/**
 * Refresh with `ROTATED` and with `settings.storedSessions` sessions in the store (the same 1,000 rotating),
 * on both stores, in interleaved rounds; then resident memory with 100,000 and `settings.storedSessions`
 * sessions in the store. Sqlite files are filled in bulk by a "seed" child first, so that the measured
 * process carries nothing of the filling; the memory store can only be filled in its own process.
 */
export async function runSessionsAtScale(settings, workDir, say) {
  const fillTimeoutMs = (settings.fillMaxSec + 120) * 1000;
  const seed = async (label, file, stored, rotated) => {
    const result = await runNode(
      `seed (${label})`,
      child,
      { mode: "seed", store: "sqlite", path: file, storedSessions: stored - rotated, sessions: rotated, maxSeconds: settings.fillMaxSec },
      { timeoutMs: fillTimeoutMs },
    );
    say(`seeded ${label}: ${result.stored} sessions in ${result.seconds.toFixed(1)} s`);
    return result;
  };

  // Refresh: six configurations — the session service called directly on two stores, and the gateway's HTTP
  // refresh on sqlite, each with 1,000 and with `storedSessions` stored — prepared side by side, then measured
  // one at a time.
  const configs = [...STORES.map((store) => ({ store, via: "direct" })), { store: "sqlite", via: "http" }].flatMap((kind) =>
    [ROTATED, settings.storedSessions].map((stored) => ({
      ...kind,
      stored,
      label: `${kind.via === "http" ? "HTTP, " : ""}${kind.store}, ${stored} stored`,
      file: path.join(workDir, `scale-refresh-${kind.via}-${kind.store}-${stored}.sqlite`),
    })),
  );
  const upstream = await startNode("upstream", path.join(here, "..", "servers", "upstream.mjs"));
  await Promise.all(configs.map((c) => prepareRefresh(c, { settings, seed, upstream, say })));
  // The HTTP gateways alone on CPU 0, the load generator (and this process) on the others, as in `npm run bench`.
  const pinning = setUpPinning();
  const pinned = describePinning(pinning);
  for (const c of configs) if (c.via === "http") pinServer(pinning, c.child.pid);
  try {
    for (let round = 0; round < settings.rounds; round++) {
      // Each round starts one configuration further along, so that none always runs first (or right after the fill).
      for (let k = 0; k < configs.length; k++) {
        const c = configs[(round + k) % configs.length];
        const loadAverage = os.loadavg()[0];
        c.rounds.push({ ...(await c.measure(settings.refreshSec, pinning)), loadAverage });
      }
      say(
        `refresh round ${round + 1}/${settings.rounds} (load average ${os.loadavg()[0].toFixed(2)}): ` +
          configs.map((c) => `${c.label} ${c.rounds.at(-1).opsPerSec.toFixed(0)}/s p99 ${c.rounds.at(-1).p99Us.toFixed(0)} µs`).join(", "),
      );
    }
  } finally {
    releasePinning(pinning);
  }
  const refresh = [];
  for (const c of configs) {
    const memory = await c.memory();
    await c.child.stop();
    removeStoreFiles(c.file);
    const pick = (key) => median(c.rounds.map((r) => r[key]));
    refresh.push({
      via: c.via,
      chainsLeft: c.chains?.length,
      failed: c.rounds.reduce((n, r) => n + (r.non2xx ?? 0) + (r.errors ?? 0), 0),
      store: c.store,
      requested: c.requested,
      stored: c.stored,
      rotated: c.rotated,
      fillSeconds: c.fillSeconds,
      opsPerSec: pick("opsPerSec"),
      p50Us: pick("p50Us"),
      p99Us: pick("p99Us"),
      p999Us: pick("p999Us"),
      maxUs: pick("maxUs"),
      cpuUsPerOp: pick("cpuUsPerOp"),
      systemCpuUsPerOp: pick("systemCpuUsPerOp"),
      foreignShare: pick("foreignShare"),
      rssBytes: memory.rss,
      fileBytes: memory.fileBytes,
      rounds: c.rounds,
    });
  }
  await upstream.stop();
  const ratios = configs
    .filter((c) => c.stored === ROTATED)
    .map(({ store, via }) => {
      const [small, big] = refresh.filter((r) => r.store === store && r.via === via);
      // The same round of both sizes ran a few seconds apart, under the same load from elsewhere: ratios are
      // taken round by round, and their median reported (the ratio of the medians may pair a quiet round with a busy one).
      const paired = (key) => big.rounds.map((r, i) => r[key] / small.rounds[i][key]);
      return {
        store,
        via,
        p50Ratio: median(paired("p50Us")),
        p99Ratio: median(paired("p99Us")),
        p999Ratio: median(paired("p999Us")),
        opsRatio: median(paired("opsPerSec")),
        cpuRatio: median(paired("cpuUsPerOp")),
        p99RoundRatios: paired("p99Us"),
        p99RatioOfMedians: big.p99Us / small.p99Us,
      };
    });

  // Footprint: the two stores side by side (their memory is measured, not their speed), sizes one after the other.
  const sizes = [...new Set([Math.min(CACHED, settings.storedSessions), settings.storedSessions])];
  const lanes = await Promise.all(
    STORES.map(async (store) => {
      const rows = [];
      for (const stored of sizes) {
        const file = path.join(workDir, `scale-footprint-${store}-${stored}.sqlite`);
        if (store === "sqlite") await seed(`sqlite footprint, ${stored}`, file, stored, 0);
        const result = await runNode(
          `footprint (${store}, ${stored})`,
          child,
          {
            mode: "footprint",
            store,
            path: file,
            storedSessions: stored,
            prepared: store === "sqlite",
            sessions: CACHED,
            maxSeconds: settings.fillMaxSec,
          },
          { execArgv: ["--expose-gc"], timeoutMs: fillTimeoutMs },
        );
        removeStoreFiles(file);
        say(
          `footprint, ${store} store, ${result.created} sessions stored, ${result.used} looked up: ` +
            `RSS ${mib(result.rssBytes)} MiB (+${mib(result.rssDeltaBytes)} MiB)`,
        );
        rows.push({ store, ...result });
      }
      return rows;
    }),
  );
  const http = `${LOAD_GENERATOR}, ${HTTP_CONNECTIONS} keep-alive connections, ${HTTP_WARMUP_SECONDS} s unmeasured before each run. ${pinned}`;
  return { refresh, ratios, footprint: lanes.flat(), notes: { http } };
}
