/**
 * Child process: the session service (dist/src/auth/sessions.js) called directly, on a memory or sqlite
 * store, as the gateway builds it. Prints one JSON line with the result.
 *
 * Options (JSON in argv[2]):
 *   mode         "refresh": rotate refresh tokens of `sessions` sessions round-robin for `seconds`
 *                "footprint": start `sessions` sessions (stopping at `maxSeconds`) and report memory
 *   store        "memory" | "sqlite"
 *   path         the sqlite file (a fresh one)
 */
import { statSync } from "node:fs";
import { createAccessTokens } from "../../dist/src/auth/access-token.js";
import { createSessionService } from "../../dist/src/auth/sessions.js";
import { secureRandom, systemClock } from "../../dist/src/clock.js";
import { parseConfig } from "../../dist/src/config/load.js";
import { createStore } from "../../dist/src/store/index.js";
import { childOptions } from "../lib/child.mjs";

const options = childOptions();
const storeYaml = options.store === "sqlite" ? `{type: sqlite, path: ${JSON.stringify(options.path)}}` : "{type: memory}";
const config = parseConfig(
  ["server_name: bench.local", `jwt: {secret: "${"k".repeat(48)}"}`, `store: ${storeYaml}`].join("\n"),
  "bench-sessions.yaml",
);
const store = createStore(config);
const sessions = createSessionService({
  store,
  accessTokens: createAccessTokens({
    keys: config.jwt.keys,
    signingKid: config.jwt.signing_kid,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    clockSkewMs: config.jwt.clock_skew,
    clock: systemClock,
    random: secureRandom,
  }),
  tokens: config.tokens,
  cache: { ttlMs: config.store.cache_ttl, size: config.store.cache_size },
  clock: systemClock,
  random: secureRandom,
  revocationPollMs: 0,
});

const start = (i) =>
  sessions.start({ userId: `@user${i}:bench.local`, deviceId: `DEV${i}`, upstreamToken: `syt_upstream_token_${i}`, refreshable: true });

async function refresh() {
  const tokens = [];
  for (let i = 0; i < options.sessions; i++) tokens.push((await start(i)).refreshToken);
  // Warm-up, then the measured window.
  await rotate(tokens, 0.3);
  const cpu = process.cpuUsage();
  const begun = performance.now();
  const done = await rotate(tokens, options.seconds);
  const seconds = (performance.now() - begun) / 1000;
  const used = process.cpuUsage(cpu);
  return { opsPerSec: done / seconds, cpuUsPerOp: (used.user + used.system) / done, operations: done };
}

async function rotate(tokens, seconds) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  while (performance.now() < until) {
    for (let k = 0; k < 100; k++, done++) {
      const i = done % tokens.length;
      const outcome = await sessions.refresh(tokens[i]);
      if (!outcome.ok) throw new Error(`refresh failed: ${outcome.reason}`);
      tokens[i] = outcome.grant.refreshToken;
    }
  }
  return done;
}

function memory() {
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed };
}

async function footprint() {
  const before = memory();
  const begun = performance.now();
  const until = begun + options.maxSeconds * 1000;
  let created = 0;
  while (created < options.sessions && performance.now() < until) {
    for (const end = Math.min(created + 1000, options.sessions); created < end; created++) await start(created);
  }
  const seconds = (performance.now() - begun) / 1000;
  const after = memory();
  let fileBytes;
  if (options.store === "sqlite") {
    fileBytes = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        fileBytes += statSync(options.path + suffix).size;
      } catch {
        // no WAL file
      }
    }
  }
  return {
    requested: options.sessions,
    created,
    seconds,
    rssBytes: after.rss,
    rssDeltaBytes: after.rss - before.rss,
    heapDeltaBytes: after.heapUsed - before.heapUsed,
    fileBytes,
  };
}

const result = options.mode === "refresh" ? await refresh() : await footprint();
sessions.close();
await store.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
