/**
 * Another connection to one SQLite file, in a thread of its own, for tests of what must hold between
 * processes sharing the file (a code used once, an expired code swept once). It opens the store and says
 * `ready`; when the shared flag turns 1 (every worker at the same moment) it uses each code once and reports
 * which uses were first; when it turns 2 it sweeps `sweeps` times and reports the hashes it was handed.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createSqliteStore } from "../../src/store/sqlite.js";

export interface StoreWorkerData {
  file: string;
  key: Uint8Array;
  /** The codes to use, in this order (the same in every worker, so that they collide). */
  hashes: string[];
  takeAt: number;
  sweepAt: number;
  sweeps: number;
  /** An Int32Array's buffer: the phase (0 wait, 1 take codes, 2 sweep). */
  phase: SharedArrayBuffer;
}

/** Phase 1: the hashes this worker's use was the first of. Phase 2: the hashes its sweeps were handed. */
export type StoreWorkerReport = string[];

const data = workerData as StoreWorkerData;
const store = createSqliteStore(data.file, createCredentialCipher(Buffer.from(data.key)));
const phase = new Int32Array(data.phase);
parentPort?.postMessage("ready");

Atomics.wait(phase, 0, 0);
const first: string[] = [];
for (const hash of data.hashes) {
  const use = await store.takeCode(hash, data.takeAt);
  if (use?.firstUse) first.push(hash);
}
parentPort?.postMessage(first);

Atomics.wait(phase, 0, 1);
const swept: string[] = [];
for (let i = 0; i < data.sweeps; i++) swept.push(...(await store.takeExpiredCodes(data.sweepAt)).map((c) => c.hash));
await store.close();
parentPort?.postMessage(swept);
