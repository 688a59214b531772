/**
 * The session-service family, each measurement in a fresh child process (session-service.mjs):
 * refresh rotations per second, and resident memory with many live sessions, on the memory and sqlite stores.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runNode } from "../lib/children.mjs";

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
    say(`refresh, ${store} store: ${result.opsPerSec.toFixed(0)} ops/s, ${result.cpuUsPerOp.toFixed(1)} µs CPU/op`);
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
