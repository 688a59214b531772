/**
 * Child process: the session service (dist/src/auth/sessions.js) called directly, on a memory or sqlite
 * store, as the gateway builds it. Prints one JSON line with the result, or (with `serve`) answers the
 * parent's calls so that several of these children can be measured in interleaved rounds.
 *
 * Options (JSON in argv[2]):
 *   mode            "refresh": rotate the refresh tokens of `sessions` sessions round-robin for `seconds`; the
 *                   time of every `refresh()` call gives p50/p99
 *                   "footprint": start `sessions` sessions (stopping at `maxSeconds`) and report memory; with
 *                   `storedSessions`: fill the store with that many in bulk, then look `sessions` of them up
 *                   through `authenticate` (as their first requests would: the session cache fills)
 *                   "seed": fill a sqlite file in bulk for a later child (`prepared`), then exit
 *   store           "memory" | "sqlite"
 *   path            the sqlite file (a fresh one)
 *   storedSessions  refresh, seed: sessions stored besides the `sessions` rotated ones; footprint: all of them
 *   prepared        the sqlite file was filled by a "seed" child; its refresh tokens are in `${path}.tokens.json`
 *   maxSeconds      time cap for starting or storing the sessions (fewer are reported when it is hit)
 *   serve           refresh: announce, then answer `prepare`, `measure {seconds}` and `memory` calls
 *
 * Bulk filling writes the records `sessions.start()` would write (random ids, families and hashes; the
 * upstream token sealed with the store's key), through the store's own `createSession` for the memory
 * store and through a second better-sqlite3 connection, 50,000 rows per transaction, for sqlite: one
 * commit per session (what `start()` does) would take about 7 minutes for a million.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { createAccessTokens } from "../../dist/src/auth/access-token.js";
import { issueRefreshToken, newFamily } from "../../dist/src/auth/refresh-token.js";
import { createSessionService } from "../../dist/src/auth/sessions.js";
import { secureRandom, systemClock } from "../../dist/src/clock.js";
import { parseConfig } from "../../dist/src/config/load.js";
import { createCredentialCipher } from "../../dist/src/store/credential-cipher.js";
import { createStore } from "../../dist/src/store/index.js";
import { announce, answerCalls, childOptions, exitOnSignal } from "../lib/child.mjs";

const options = childOptions();
// The JWT secret is also the store's key: scenarios/sessions.mjs (SEED_JWT_SECRET) gives a gateway the same one.
const storeYaml = options.store === "sqlite" ? `{type: sqlite, path: ${JSON.stringify(options.path)}}` : "{type: memory}";
const config = parseConfig(
  ["server_name: bench.local", `jwt: {secret: "${"k".repeat(48)}"}`, `store: ${storeYaml}`].join("\n"),
  "bench-sessions.yaml",
);
const store = createStore(config);
const accessTokens = createAccessTokens({
  keys: config.jwt.keys,
  signingKid: config.jwt.signing_kid,
  issuer: config.jwt.issuer,
  audience: config.jwt.audience,
  clockSkewMs: config.jwt.clock_skew,
  verifiedCacheSize: config.jwt.verified_cache_size,
  clock: systemClock,
  random: secureRandom,
});
const sessions = createSessionService({
  store,
  accessTokens,
  tokens: config.tokens,
  cache: { ttlMs: config.store.cache_ttl, size: config.store.cache_size },
  clock: systemClock,
  random: secureRandom,
  revocationPollMs: 0,
});
const tokensFile = `${options.path}.tokens.json`;

const start = (i) =>
  sessions.start({ userId: `@user${i}:bench.local`, deviceId: `DEV${i}`, upstreamToken: `syt_upstream_token_${i}`, refreshable: true });

// ---------------------------------------------------------------------------------------------------
// Bulk filling.

/** A bijection of 32-bit integers (murmur3's finaliser): distinct, evenly spread values from positions. */
function mix32(x) {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
const idBytes = Buffer.alloc(16);
/**
 * Session ids and user ids derived from the position, in random order, so that a later process can name a
 * bulk-stored session without reading the store (and so cheap: a SHA-256 or `randomBytes` call per id
 * costs 5–10 µs, a minute for a million).
 */
function idAt(i) {
  for (let k = 0; k < 4; k++) idBytes.writeUInt32LE(mix32(i * 4 + k + 0x9e3779b9), k * 4);
  return idBytes.toString("base64url");
}
const userAt = (i) => `@seed${mix32(i).toString(36)}:bench.local`;

/**
 * Stores `stored + rotated` sessions, the `rotated` ones spread evenly among the others (in sqlite, each on
 * a page of its own, as live sessions of different ages would be). The rotated ones are built as `start()`
 * builds them, and their refresh tokens are returned; the others look refreshed once (a previous hash
 * too), with families and hashes of the same size drawn from one `randomBytes` call per chunk.
 */
async function fill({ stored, rotated, maxSeconds = 600 }) {
  const total = stored + rotated;
  const deadline = performance.now() + maxSeconds * 1000;
  const writer = options.store === "sqlite" ? sqliteWriter() : memoryWriter();
  const tokens = [];
  const CHUNK = 50_000;
  let written = 0;
  const begun = performance.now();
  try {
    while (written < total && performance.now() < deadline) {
      const records = [];
      const exact = new Set();
      const now = Date.now();
      const count = Math.min(CHUNK, total - written);
      const pool = secureRandom(count * 80);
      for (let i = written, o = 0; i < written + count; i++, o += 80) {
        const isRotated = Math.floor((i * rotated) / total) !== Math.floor(((i + 1) * rotated) / total);
        const record = {
          id: idAt(i),
          userId: userAt(i),
          deviceId: `SEED${i}`,
          upstreamToken: `syt_upstream_token_${i}`,
          createdAt: now,
          expiresAt: now + config.tokens.session_max_age,
          refresh: {
            family: pool.toString("base64url", o, o + 16),
            currentHash: pool.toString("base64url", o + 16, o + 48),
            currentIssuedAt: now,
            previousHash: pool.toString("base64url", o + 48, o + 80),
            previousUsedAt: now,
          },
        };
        if (isRotated) {
          const issued = issueRefreshToken(newFamily(secureRandom), secureRandom);
          record.refresh = {
            family: issued.family,
            currentHash: issued.hash,
            currentIssuedAt: now,
            previousHash: null,
            previousUsedAt: null,
          };
          tokens.push(issued.token);
          exact.add(record);
        }
        records.push(record);
      }
      await writer.write(records, exact);
      written += count;
    }
  } finally {
    writer.close();
  }
  return { stored: written, tokens, seconds: (performance.now() - begun) / 1000 };
}

function memoryWriter() {
  return {
    async write(records) {
      for (const record of records) await store.createSession(record);
    },
    close() {},
  };
}

/**
 * The rows `createSession` of src/store/sqlite.ts writes, all in one transaction (committed by `close`): each
 * page is written once, where a commit per 50,000 rows rewrites most index pages every time (2–3× slower).
 * A "seed" child, whose memory is not measured, gives the connection a page cache of 512 MiB (the file of a
 * million sessions is about 360 MB). Sealing costs 10–20 µs (`createCipheriv`, `randomBytes`), so the rows
 * of a call share one sealed upstream token of the same size, except the `exact` ones (the rotated
 * sessions), sealed each: a rotation opens it.
 */
function sqliteWriter() {
  const db = new Database(options.path);
  db.pragma("busy_timeout = 5000");
  if (options.mode === "seed") db.pragma("cache_size = -524288");
  const cipher = createCredentialCipher(config.store.encryption_key);
  const insert = db.prepare(
    `INSERT INTO sessions (id, user_id, device_id, upstream_token, created_at, expires_at, refresh_family, refresh_hash,
      refresh_issued_at, previous_refresh_hash, previous_refresh_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.exec("BEGIN IMMEDIATE");
  return {
    async write(records, exact) {
      const shared = cipher.seal(records[0].upstreamToken);
      for (const s of records) {
        insert.run(
          s.id,
          s.userId,
          s.deviceId,
          exact.has(s) ? cipher.seal(s.upstreamToken) : shared,
          s.createdAt,
          s.expiresAt,
          s.refresh.family,
          s.refresh.currentHash,
          s.refresh.currentIssuedAt,
          s.refresh.previousHash,
          s.refresh.previousUsedAt,
        );
      }
    },
    close() {
      if (db.inTransaction) db.exec("COMMIT");
      db.close();
    },
  };
}

/** The rotated sessions' refresh tokens, and how many sessions the store holds. */
async function prepareRefresh() {
  if (options.prepared) {
    return JSON.parse(readFileSync(tokensFile, "utf8"));
  }
  if (options.storedSessions === undefined) {
    // What `npm run bench` has always measured: the sessions started one by one.
    const tokens = [];
    for (let i = 0; i < options.sessions; i++) tokens.push((await start(i)).refreshToken);
    return { tokens, stored: tokens.length, seconds: 0 };
  }
  return fill({ stored: options.storedSessions, rotated: options.sessions, maxSeconds: options.maxSeconds });
}

// ---------------------------------------------------------------------------------------------------
// Refresh.

let tokens = [];
let cursor = 0;
let latencies = new Float64Array(1 << 16);

/** Rotates round-robin for `seconds`; with `record`, keeps each call's time (ms). Returns how many. */
async function rotate(seconds, record) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  for (let after = performance.now(); after < until; done++) {
    const i = cursor++ % tokens.length;
    const before = performance.now();
    const outcome = await sessions.refresh(tokens[i]);
    after = performance.now();
    if (!outcome.ok) throw new Error(`refresh failed: ${outcome.reason}`);
    tokens[i] = outcome.grant.refreshToken;
    if (record) {
      if (done === latencies.length) {
        const larger = new Float64Array(latencies.length * 2);
        larger.set(latencies);
        latencies = larger;
      }
      latencies[done] = after - before;
    }
  }
  return done;
}

/** One measured window (after a short warm-up): throughput, CPU (user and system) and latency percentiles (µs). */
async function measure(seconds) {
  await rotate(0.3, false);
  const cpu = process.cpuUsage();
  const begun = performance.now();
  const done = await rotate(seconds, true);
  const wall = (performance.now() - begun) / 1000;
  const used = process.cpuUsage(cpu);
  const sorted = latencies.slice(0, done).sort();
  const at = (q) => sorted[Math.min(done - 1, Math.ceil(q * done) - 1)] * 1000;
  return {
    opsPerSec: done / wall,
    cpuUsPerOp: (used.user + used.system) / done,
    systemCpuUsPerOp: used.system / done,
    operations: done,
    p50Us: at(0.5),
    p99Us: at(0.99),
    p999Us: at(0.999),
    maxUs: sorted[done - 1] * 1000,
    rssBytes: process.memoryUsage().rss,
  };
}

async function refresh() {
  const prepared = await prepareRefresh();
  tokens = prepared.tokens;
  return { stored: prepared.stored, rotated: tokens.length, ...(await measure(options.seconds)) };
}

// ---------------------------------------------------------------------------------------------------
// Footprint.

function memory() {
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed };
}

function fileBytes() {
  if (options.store !== "sqlite") return undefined;
  let bytes = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      bytes += statSync(options.path + suffix).size;
    } catch {
      // no WAL file
    }
  }
  return bytes;
}

async function footprint() {
  const before = memory();
  let begun = performance.now();
  let until = begun + options.maxSeconds * 1000;
  let created = 0;
  let stored;
  let fillSeconds;
  if (options.storedSessions === undefined) {
    while (created < options.sessions && performance.now() < until) {
      for (const end = Math.min(created + 1000, options.sessions); created < end; created++) await start(created);
    }
  } else {
    // The most recently stored sessions make their first request: token checked, session read, cached.
    const filled = options.prepared
      ? JSON.parse(readFileSync(tokensFile, "utf8"))
      : await fill({ stored: options.storedSessions, rotated: 0, maxSeconds: options.maxSeconds });
    stored = filled.stored;
    fillSeconds = filled.seconds;
    begun = performance.now();
    until = begun + options.maxSeconds * 1000;
    const expiresAt = Date.now() + config.tokens.access_ttl;
    for (let i = Math.max(0, stored - options.sessions); i < stored && performance.now() < until; i++, created++) {
      const session = await sessions.authenticate(accessTokens.issue(userAt(i), idAt(i), expiresAt));
      if (session.id !== idAt(i)) throw new Error(`session ${i}: authenticate answered ${session.id}`);
    }
  }
  // Starting them (without `storedSessions`), or looking them up (with it).
  const seconds = (performance.now() - begun) / 1000;
  const after = memory();
  return {
    requested: options.storedSessions ?? options.sessions,
    created: stored ?? created,
    used: stored === undefined ? undefined : created,
    seconds,
    fillSeconds,
    rssBytes: after.rss,
    rssDeltaBytes: after.rss - before.rss,
    heapDeltaBytes: after.heapUsed - before.heapUsed,
    fileBytes: fileBytes(),
  };
}

// ---------------------------------------------------------------------------------------------------

async function seed() {
  const filled = await fill({ stored: options.storedSessions ?? 0, rotated: options.sessions ?? 0, maxSeconds: options.maxSeconds });
  writeFileSync(tokensFile, JSON.stringify({ stored: filled.stored, tokens: filled.tokens, seconds: filled.seconds }));
  return { stored: filled.stored, rotated: filled.tokens.length, seconds: filled.seconds };
}

async function close() {
  sessions.close();
  await store.close();
}

if (options.serve) {
  let prepared;
  answerCalls({
    async prepare() {
      prepared = await prepareRefresh();
      tokens = prepared.tokens;
      return { stored: prepared.stored, rotated: tokens.length, seconds: prepared.seconds };
    },
    measure: ({ seconds }) => measure(seconds),
    memory: async () => ({ ...memory(), fileBytes: fileBytes() }),
  });
  exitOnSignal(close);
  announce(0);
} else {
  const run = { refresh, footprint, seed }[options.mode];
  if (!run) throw new Error(`unknown mode ${options.mode}`);
  const result = await run();
  await close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
