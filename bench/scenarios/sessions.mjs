/**
 * The session-service family, each measurement in a fresh child process (session-service.mjs):
 * refresh rotations per second, and resident memory with many live sessions, on the memory and sqlite stores.
 * `runSessionBench` is part of `npm run bench`; `runSessionsAtScale` is `npm run bench:sessions` (sessions.mjs).
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runNode, startNode } from "../lib/children.mjs";

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "session-service.mjs");
const STORES = ["memory", "sqlite"];

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
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
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

  // Refresh: four children (two stores × two sizes) prepared side by side, then measured one at a time.
  const configs = STORES.flatMap((store) =>
    [ROTATED, settings.storedSessions].map((stored) => ({
      store,
      stored,
      label: `${store}, ${stored} stored`,
      file: path.join(workDir, `scale-refresh-${store}-${stored}.sqlite`),
    })),
  );
  await Promise.all(
    configs.map(async (c) => {
      const options = { mode: "refresh", serve: true, store: c.store, path: c.file, sessions: ROTATED, maxSeconds: settings.fillMaxSec };
      if (c.store === "sqlite") c.seeded = await seed(`sqlite refresh, ${c.stored}`, c.file, c.stored, ROTATED);
      else options.storedSessions = c.stored - ROTATED;
      c.child = await startNode(
        `refresh (${c.label})`,
        child,
        { ...options, prepared: c.store === "sqlite" },
        { execArgv: ["--expose-gc"] },
      );
      const prepared = await c.child.call({ cmd: "prepare" });
      c.requested = c.stored;
      c.stored = prepared.stored;
      c.rotated = prepared.rotated;
      c.fillSeconds = c.seeded?.seconds ?? prepared.seconds;
      c.rounds = [];
      if (c.store === "memory") say(`filled ${c.label}: ${c.stored} sessions in ${c.fillSeconds.toFixed(1)} s`);
    }),
  );
  for (let round = 0; round < settings.rounds; round++) {
    // Each round starts one configuration further along, so that none always runs first (or right after the fill).
    for (let k = 0; k < configs.length; k++) {
      const c = configs[(round + k) % configs.length];
      const { id: _id, ...result } = await c.child.call({ cmd: "measure", seconds: settings.refreshSec });
      c.rounds.push(result);
    }
    say(
      `refresh round ${round + 1}/${settings.rounds}: ` +
        configs.map((c) => `${c.label} p99 ${c.rounds.at(-1).p99Us.toFixed(0)} µs`).join(", "),
    );
  }
  const refresh = [];
  for (const c of configs) {
    const memory = await c.child.call({ cmd: "memory" });
    await c.child.stop();
    removeStoreFiles(c.file);
    const pick = (key) => median(c.rounds.map((r) => r[key]));
    refresh.push({
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
      rssBytes: memory.rss,
      fileBytes: memory.fileBytes,
      rounds: c.rounds,
    });
  }
  const ratios = STORES.map((store) => {
    const [small, big] = refresh.filter((r) => r.store === store);
    // The same round of both sizes ran a few seconds apart, under the same load from elsewhere: ratios are
    // taken round by round, and their median reported (the ratio of the medians may pair a quiet round with a busy one).
    const paired = (key) => big.rounds.map((r, i) => r[key] / small.rounds[i][key]);
    return {
      store,
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
  return { refresh, ratios, footprint: lanes.flat() };
}
