/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints inside the commit that grows the WAL
 * past 1,000 pages: that commit copies the pages into the database file and syncs it. With a million
 * sessions that took 25–40 ms (`npm run bench:sessions`), and better-sqlite3 is synchronous, so every
 * request of the gateway waited. The store's own connection therefore raises its automatic checkpoint to a
 * backstop that a normal load never reaches (sqlite.ts), and this worker thread, with a connection of its own
 * to the same file, runs a PASSIVE checkpoint (it never waits for, nor blocks, readers and writers) every
 * `intervalMs`.
 *
 * The worker is plain JavaScript evaluated from a string, so that it runs the same from `src/` (tests)
 * and `dist/`; it is given the resolved path of better-sqlite3.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Often enough that the WAL stays small even at thousands of commits a second; a checkpoint of nothing is cheap. */
export const WAL_CHECKPOINT_INTERVAL_MS = 250;
/** A checkpoint of a very large WAL may take seconds; past this the thread is terminated (SQLite stays consistent). */
const STOP_TIMEOUT_MS = 5_000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
// fileMustExist: a thread that boots after the file was deleted must not create an empty one in its place.
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 0");
const checkpoint = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // SQLITE_BUSY: another process is checkpointing this file; the next turn will do.
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.once("message", () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface WalCheckpointer {
  /** Stops the thread (after a checkpoint in progress), so that the store's connection can close last. */
  stop(): Promise<void>;
}

/** `onFailure`: the thread could not run (the caller turns SQLite's own checkpoints back on). */
export function startWalCheckpointer(file: string, onFailure: () => void, intervalMs = WAL_CHECKPOINT_INTERVAL_MS): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  // No inherited flags: the thread needs none, and `--cpu-prof` or `--inspect` are meant for the main thread.
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs }, execArgv: [] });
  // A background helper: it never keeps the process alive by itself.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  worker.once("error", onFailure);
  return {
    async stop() {
      // Held open while stopping (a checkpoint in progress finishes first), so that a process with nothing
      // else to do does not exit before the store's own connection has closed.
      worker.ref();
      worker.postMessage("stop");
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(resolve, STOP_TIMEOUT_MS, false);
        }),
      ]);
      clearTimeout(timer);
      if (!stopped) await worker.terminate();
    },
  };
}
