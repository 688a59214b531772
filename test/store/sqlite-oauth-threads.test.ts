/**
 * The SQLite store's OAuth codes between connections that really run at once (worker threads, each with its
 * own connection, as separate gateway processes sharing the file would): of the uses of a code exactly one
 * is the first, and of several sweeps each expired unused code goes to exactly one. In one thread
 * better-sqlite3 runs every call to its end, so only separate connections in parallel can show a race; many
 * codes taken in the same order give the race many chances.
 */
import crypto from "node:crypto";
import path from "node:path";
import { Worker } from "node:worker_threads";
import t from "tap";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createSqliteStore } from "../../src/store/sqlite.js";
import type { AuthorizationCode } from "../../src/store/store.js";
import type { StoreWorkerData, StoreWorkerReport } from "../helpers/sqlite-store-worker.js";

const WORKERS = 4;
const H = (label: string) => crypto.createHash("sha256").update(label).digest("base64url");
const T0 = Date.UTC(2026, 11, 4);

function code(expiresAt: number): AuthorizationCode {
  return {
    hash: H(crypto.randomUUID()),
    clientId: "client-a",
    redirectUri: "https://app.example.org/callback",
    scope: "urn:matrix:client:api:* urn:matrix:client:device:DEV",
    codeChallenge: H("verifier"),
    nonce: undefined,
    userId: "@alice:example.org",
    deviceId: "DEV",
    upstreamToken: `syt_${crypto.randomUUID()}`,
    sessionId: crypto.randomUUID(),
    createdAt: expiresAt - 300_000,
    expiresAt,
  };
}

t.test("4 connections at once: each code has one first use, each expired unused code one sweeper", async (t) => {
  const file = path.join(t.testdir({}), "gateway.sqlite");
  const key = crypto.randomBytes(32);
  const store = createSqliteStore(file, createCredentialCipher(key));
  t.teardown(() => store.close());
  const taken = Array.from({ length: 1000 }, () => code(T0 + 300_000));
  const unused = Array.from({ length: 40 }, (_, i) => code(T0 - i));
  for (const c of [...taken, ...unused]) await store.saveCode(c);

  const phaseBuffer = new SharedArrayBuffer(4);
  const phase = new Int32Array(phaseBuffer);
  const workerData: Omit<StoreWorkerData, "key"> & { key: Buffer } = {
    file,
    key,
    hashes: taken.map((c) => c.hash),
    takeAt: T0,
    // The taken codes expire too by then: they go silently, only the unused ones are handed out.
    sweepAt: T0 + 300_000,
    sweeps: 3,
    phase: phaseBuffer,
  };
  const workers = Array.from(
    { length: WORKERS },
    () => new Worker(new URL("../helpers/sqlite-store-worker.ts", import.meta.url), { workerData }),
  );
  t.teardown(() => Promise.all(workers.map((w) => w.terminate())));
  const inboxes = workers.map((w) => {
    const queue: unknown[] = [];
    const waiting: ((message: unknown) => void)[] = [];
    const failed = new Promise<never>((_, reject) => w.once("error", reject));
    w.on("message", (m) => (waiting.length ? (waiting.shift() as (message: unknown) => void)(m) : queue.push(m)));
    return () => Promise.race([failed, queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve))]);
  });
  const everyone = async () => Promise.all(inboxes.map((next) => next()));
  const go = (to: number) => {
    Atomics.store(phase, 0, to);
    Atomics.notify(phase, 0);
  };

  t.same(await everyone(), Array(WORKERS).fill("ready"), "every worker opened the file");
  go(1);
  const firsts = ((await everyone()) as StoreWorkerReport[]).flat();
  t.equal(firsts.length, taken.length, `${firsts.length} first uses of ${taken.length} codes`);
  t.equal(new Set(firsts).size, taken.length, "one for each code, none twice");
  go(2);
  const swept = ((await everyone()) as StoreWorkerReport[]).flat();
  t.equal(swept.length, unused.length, "no code handed out twice");
  t.same(swept.sort(), unused.map((c) => c.hash).sort(), "every expired unused code, none of the used ones");
  t.same(await store.takeExpiredCodes(T0 + 300_000), [], "nothing left");
});
