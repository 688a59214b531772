/**
 * The sqlite store checkpoints its WAL from a worker thread, not inside a commit on the event loop
 * (src/store/wal-checkpointer.ts): the store's own connection checkpoints only past 10,000 pages (a
 * backstop), so without the thread four batches of ~1,700 pages each would leave a WAL of ~4× the first.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t from "tap";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createSqliteStore } from "../../src/store/sqlite.js";
import type { SessionRecord } from "../../src/store/store.js";
import { startWalCheckpointer, WAL_CHECKPOINT_INTERVAL_MS } from "../../src/store/wal-checkpointer.js";

const cipher = createCredentialCipher(crypto.randomBytes(32));
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mag-wal-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};
let sequence = 0;
const session = (): SessionRecord => {
  const n = ++sequence;
  return {
    id: `session-${n}`,
    userId: `@user${n}:example.org`,
    deviceId: `DEVICE${n}`,
    upstreamToken: `syt_upstream_${n}_${"x".repeat(200)}`,
    createdAt: 0,
    expiresAt: 1e13,
    refresh: { family: `family-${n}`, currentHash: `hash-${n}`, currentIssuedAt: 0, previousHash: null, previousUsedAt: null },
  };
};
const walSize = (file: string) => fs.statSync(`${file}-wal`).size;
const settle = () => new Promise((resolve) => setTimeout(resolve, 4 * WAL_CHECKPOINT_INTERVAL_MS));

t.test("the WAL stops growing: each batch of commits is checkpointed and the WAL reused", async (t) => {
  const file = path.join(tempDir(), "store.sqlite");
  const store = createSqliteStore(file, cipher);
  const BATCH = 300;
  for (let i = 0; i < BATCH; i++) await store.createSession(session());
  await settle();
  const afterFirst = walSize(file);
  t.ok(
    afterFirst > 4 * 1024 * 1024,
    `${BATCH} commits wrote a WAL of ${(afterFirst / 1048576).toFixed(1)} MiB (over SQLite's default of 1,000 pages)`,
  );
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < BATCH; i++) await store.createSession(session());
    await settle();
  }
  const afterFour = walSize(file);
  // Without the thread's checkpoints four batches would take about four times the space (under the backstop).
  t.ok(afterFour < 2 * afterFirst, `after 4 batches the WAL is ${(afterFour / 1048576).toFixed(1)} MiB, not 4×`);
  t.equal(await store.countSessions(), 4 * BATCH, "every session is there");
  await store.close();
  t.notOk(fs.existsSync(`${file}-wal`), "close: the thread's connection closed first, so the store's was the last and removed the WAL");
});

t.test("a sqlite store in memory starts no thread; close() is idempotent", async (t) => {
  const store = createSqliteStore(":memory:", cipher);
  await store.createSession(session());
  await store.close();
  await store.close();
  t.pass();
});

t.test("a thread that cannot open the file reports it, so that SQLite's own checkpoints are turned back on", async (t) => {
  let failed = 0;
  const checkpointer = startWalCheckpointer(path.join(tempDir(), "missing", "dir", "store.sqlite"), () => failed++);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.equal(failed, 1);
  await checkpointer.stop();
});
