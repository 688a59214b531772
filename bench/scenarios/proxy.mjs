/**
 * The HTTP family: the same requests sent direct to the upstream, through reference proxies and through
 * the gateway, in interleaved rounds (each round visits every scenario, starting one further along), and
 * the median of the rounds reported. Login throughput is measured in the same rounds.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startNode } from "../lib/children.mjs";
import { describePinning, pinServer, releasePinning, setUpPinning } from "../lib/cpu-pinning.mjs";
import { measure, median, NOISY_SHARE, warmUp } from "../lib/load.mjs";
import { findNginx, startNginx } from "../servers/nginx.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const server = (name) => path.join(here, "..", "servers", name);

const WHOAMI = "/_matrix/client/v3/account/whoami";
const SYNC = "/_matrix/client/v3/sync";
const LOGIN = "/_matrix/client/v3/login";
const LOGIN_BODY = JSON.stringify({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: "bench" },
  password: "bench",
  refresh_token: true,
});
/** What a client of the upstream itself would send; the gateway swaps its JWT for such a token. */
const UPSTREAM_AUTH = { authorization: "Bearer syt_YmVuY2g_upstream_token_0123456789" };

/**
 * Starts every server, runs the rounds, stops nothing (the caller stops all children).
 * @returns {{ rows: object[], notes: string[] }}
 */
export async function runHttpBench(settings, workDir, say) {
  const pinning = setUpPinning();
  try {
    return await runPinned(settings, workDir, say, pinning);
  } finally {
    releasePinning(pinning);
  }
}

async function runPinned(settings, workDir, say, pinning) {
  const notes = [describePinning(pinning)];
  const upstream = await startNode("upstream", server("upstream.mjs"));
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const gateway = (name, options) => startNode(name, server("gateway.mjs"), { upstream: upstreamUrl, ...options });
  const sqlite = (name) => ({ type: "sqlite", path: path.join(workDir, `${name}.sqlite`) });

  const bare = await startNode("bare http-proxy-3", server("bare-proxy.mjs"), { upstream: upstreamUrl });
  const undici = await startNode("undici Pool.stream", server("undici-proxy.mjs"), { upstream: upstreamUrl });
  const forwarderOnly = await startNode("gateway forwarder only", server("gateway-forwarder.mjs"), { upstream: upstreamUrl });
  // Opt-in (BENCH_SCENARIOS=…,floor/): the least auth there is on this forwarder, to show the targets' budget.
  const floorWanted = settings.scenarios?.some((prefix) => prefix.startsWith("floor/")) ?? false;
  const floor = floorWanted
    ? await startNode("token-lookup floor", server("token-lookup-floor.mjs"), { upstream: upstreamUrl })
    : undefined;
  // Opt-in (BENCH_SCENARIOS=…,missfloor/): a miss's three unavoidable steps (jsonwebtoken, SQLite, AES-GCM) on this forwarder.
  const missFloorWanted = settings.scenarios?.some((prefix) => prefix.startsWith("missfloor/")) ?? false;
  const missFloor = missFloorWanted ? await startNode("cache-miss floor", server("miss-floor.mjs"), { upstream: upstreamUrl }) : undefined;
  const nginxBinary = findNginx();
  const nginx = nginxBinary ? await startNginx(nginxBinary, upstream.port, path.join(workDir, "nginx")) : undefined;
  if (!nginx) notes.push("nginx is not installed (`command -v nginx` found nothing): its rows are skipped.");

  // Each gateway scenario has `settings.replicas` processes of its own, used in turn from round to round: two
  // identical gateways can differ by 10–20% in CPU per request (JIT decisions, memory layout), and the median
  // over rounds then spans processes instead of resting on one. Logins get a gateway of their own, so that
  // the cache-hit processes serve nothing but their scenario, like the reference proxies.
  const replicated = (name, options) =>
    Promise.all(Array.from({ length: settings.replicas }, (_, i) => gateway(`${name} #${i + 1}`, { ...options, store: options.store(i) })));
  const hit = await replicated("gateway (cache hit)", { store: (i) => sqlite(`hit-${i}`) });
  const miss = await replicated("gateway (cache miss)", { store: (i) => sqlite(`miss-${i}`), cache: { size: 1, ttl: "1s", verified: 0 } });
  const defaults = await replicated("gateway (defaults)", { store: (i) => sqlite(`defaults-${i}`), defaults: true });
  const loginSqlite = await gateway("gateway (sqlite store, logins)", { store: sqlite("login") });
  const loginMemory = await gateway("gateway (memory store)", { store: { type: "memory" } });
  // The upstream stays with the load generator: "direct to upstream" measures the two sharing their CPUs.
  for (const underTest of [bare, undici, forwarderOnly, floor, missFloor, nginx, ...hit, ...miss, ...defaults, loginSqlite, loginMemory]) {
    if (underTest) pinServer(pinning, underTest.pid);
  }

  say(
    `seeding sessions in each of ${settings.replicas} processes: 1 (hit), ${settings.missSessions} (miss), ${settings.missSessions} users (defaults)`,
  );
  const seed = (servers, count, distinctUsers = false) =>
    Promise.all(servers.map(async (server) => (await server.call({ cmd: "seed", count, distinctUsers })).tokens));
  const hitTokens = await seed(hit, 1);
  const missTokens = await seed(miss, settings.missSessions);
  const userTokens = await seed(defaults, settings.missSessions, true);
  const [floorToken] = floor ? (await floor.call({ cmd: "seed" })).tokens : [];
  const missFloorTokens = missFloor ? (await missFloor.call({ cmd: "seed", count: settings.missSessions })).tokens : [];

  const scenarios = [];
  /** `targets`: one `{server, request}` per process; round r uses targets[r mod n]. */
  const add = (id, label, targets) =>
    scenarios.push({ id, label, name: id.split("/")[1], path: targets[0].request.path, targets, results: [] });
  const one = (server, request) => [{ server, request }];
  const paths = [
    ["whoami", WHOAMI],
    ["sync", SYNC],
  ];
  for (const [name, urlPath] of paths) {
    const get = { path: urlPath, headers: UPSTREAM_AUTH };
    add(`direct/${name}`, "direct to upstream", one({ port: upstream.port }, get));
    add(`bare/${name}`, "bare http-proxy-3", one(bare, get));
    add(`undici/${name}`, "undici Pool.stream", one(undici, get));
    if (nginx) add(`nginx/${name}`, "nginx", one(nginx, get));
    add(
      `hit/${name}`,
      "gateway, cache hit",
      hit.map((server, i) => ({ server, request: { path: urlPath, headers: { authorization: `Bearer ${hitTokens[i][0]}` } } })),
    );
    if (name !== "whoami") continue;
    add(`forwarder/${name}`, "gateway's forwarder alone (no auth)", one(forwarderOnly, get));
    if (floor) {
      const request = { path: urlPath, headers: { authorization: `Bearer ${floorToken}` } };
      add(`floor/${name}`, "floor: forwarder + a token looked up in a Map", one(floor, request));
    }
    if (missFloor) {
      add(
        `missfloor/${name}`,
        `floor of a miss: forwarder + jsonwebtoken + SQLite + AES-GCM (${settings.missSessions} tokens)`,
        one(missFloor, { path: urlPath, tokens: missFloorTokens }),
      );
    }
    add(
      `miss/${name}`,
      `gateway, cache miss (${settings.missSessions} tokens)`,
      miss.map((server, i) => ({ server, request: { path: urlPath, tokens: missTokens[i] } })),
    );
    add(
      `defaults/${name}`,
      "gateway, defaults (logs + limits on)",
      defaults.map((server, i) => ({ server, request: { path: urlPath, tokens: userTokens[i] } })),
    );
  }
  const login = { method: "POST", path: LOGIN, body: LOGIN_BODY, headers: { "content-type": "application/json" } };
  add("login-sqlite/login", "gateway, sqlite store", one(loginSqlite, login));
  add("login-memory/login", "gateway, memory store", one(loginMemory, login));

  // BENCH_SCENARIOS narrows the run to some scenarios, e.g. "hit/,defaults/" for a longer comparison.
  if (settings.scenarios) {
    const kept = scenarios.filter((s) => settings.scenarios.some((prefix) => s.id.startsWith(prefix)));
    scenarios.splice(0, scenarios.length, ...kept);
  }
  /** A measured run of one server of a scenario. */
  const runOf = ({ server, request }) => ({
    ...request,
    port: server.port,
    connections: settings.connections,
    durationSec: settings.durationSec,
    proxyPid: server.pid,
    upstreamPid: upstream.pid,
  });
  for (let round = 0; round < settings.rounds; round++) {
    const order = scenarios.map((_, i) => scenarios[(i + round) % scenarios.length]);
    for (const scenario of order) {
      const target = scenario.targets[round % scenario.targets.length];
      const { server } = target;
      const run = {
        ...runOf(target),
        // Pinned servers run alone on their CPU: what else ran there during the window is noise to flag.
        serverCpu: pinning.pinned && server.pid ? pinning.serverCpu : undefined,
      };
      // A full warm-up before a process's first round; a short one before each later round, because a process left
      // idle while the others are measured is not as warm when its turn comes: after a few idle seconds V8 shrinks
      // its young generation and may drop compiled code, and its first seconds under load again cost more.
      await warmUp(run, round < scenario.targets.length ? settings.warmupSec : ROUND_WARMUP_SEC);
      const result = await measure(run);
      scenario.results.push(result);
      say(
        `round ${round + 1}/${settings.rounds} ${scenario.id.padEnd(18)} ${result.requestsPerSec.toFixed(0).padStart(6)} req/s` +
          `  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms` +
          (result.proxyCpuUsPerReq === undefined ? "" : `  ${result.proxyCpuUsPerReq.toFixed(0)} µs CPU/req`) +
          (result.foreignShare > NOISY_SHARE
            ? `  NOISY (${(result.foreignShare * 100).toFixed(0)}% of CPU ${pinning.serverCpu} was another process's)`
            : "") +
          (result.non2xx || result.errors ? `  NON-2XX ${result.non2xx} ERRORS ${result.errors}` : ""),
      );
    }
  }

  const cacheStats = async (servers) => {
    const all = await Promise.all(servers.map((server) => server.call({ cmd: "cacheStats" })));
    return { hits: all.reduce((n, s) => n + s.hits, 0), misses: all.reduce((n, s) => n + s.misses, 0) };
  };
  const missStats = await cacheStats(miss);
  const hitStats = await cacheStats(hit);
  notes.push(
    `Gateway scenarios (hit, miss, defaults): ${settings.replicas} processes each, used in turn from round to round (BENCH_REPLICAS).`,
    `Cache-miss gateways: store.cache_size 1, cache_ttl 1s and jwt.verified_cache_size 0 (every request verifies the JWT, reads the store and unseals the credential), ${settings.missSessions} sessions' tokens rotated per request: ` +
      `${missStats.misses} misses and ${missStats.hits} hits over the whole run (warm-ups included).`,
    `Cache-hit gateways: one token each; ${hitStats.hits} hits and ${hitStats.misses} misses over the whole run.`,
  );
  const failed = scenarios.filter((s) => s.results.some((r) => r.non2xx || r.errors));
  for (const s of failed) {
    const non2xx = s.results.reduce((n, r) => n + r.non2xx, 0);
    const errors = s.results.reduce((n, r) => n + r.errors, 0);
    notes.push(`WARNING: ${s.id} had ${non2xx} non-2xx answers and ${errors} socket errors.`);
  }

  // Each gateway round against the bare proxy's round of the same pass (rounds interleave, so the two ran within
  // seconds of each other): a ratio per round, then their median and spread. Noisy windows are left out.
  const bareWhoami = scenarios.find((s) => s.id === "bare/whoami");
  const paired = (s) => {
    if (!bareWhoami || s === bareWhoami || s.name !== "whoami") return undefined;
    const rps = [];
    const cpu = [];
    s.results.forEach((result, round) => {
      const base = bareWhoami.results[round];
      if (!base || result.foreignShare > NOISY_SHARE || base.foreignShare > NOISY_SHARE) return;
      rps.push(result.requestsPerSec / base.requestsPerSec);
      if (result.proxyCpuUsPerReq && base.proxyCpuUsPerReq) cpu.push(result.proxyCpuUsPerReq / base.proxyCpuUsPerReq);
    });
    return { rps: spread(rps), cpu: spread(cpu), dropped: s.results.length - rps.length };
  };

  // Side by side: the bare proxy and one gateway scenario loaded at the same time, both on the server CPU, each by
  // a load generator of its own. Whatever slows that CPU down for a while (another virtual machine on the host,
  // which nothing inside this one can see) slows both alike, so their CPU per request compares even when the
  // machine's speed drifts between rounds, as it does here (bare alone: 100–220 µs from run to run).
  const sideBySide = [];
  for (const s of settings.sideBySideRounds > 0 && bareWhoami ? scenarios : []) {
    if (s === bareWhoami || s.name !== "whoami" || !SIDE_BY_SIDE.some((prefix) => s.id.startsWith(prefix))) continue;
    const rps = [];
    const cpu = [];
    // Both were idle while the scenarios before this one were measured. With 5 s of warm-up here the defaults'
    // rounds fell from 1.5× to 1.2× bare over the first half minute whenever another gateway scenario had been
    // measured just before (never with bare and defaults alone); after 20 s they held flat (1.07–1.21× and
    // 1.21–1.28× in two runs). What drains in that half minute is not known.
    await Promise.all([
      warmUp(runOf(bareWhoami.targets[0]), settings.sideBySideWarmupSec),
      ...s.targets.map((target) => warmUp(runOf(target), settings.sideBySideWarmupSec)),
    ]);
    for (let round = 0; round < settings.sideBySideRounds; round++) {
      const target = s.targets[round % s.targets.length];
      // The replicas take turns: this round's sat idle through the last one, and a process left idle for a few
      // seconds runs its first second slower (in a side-by-side harness, defaults: 1.30× bare without this, 1.22× with it).
      if (round > 0) await Promise.all([warmUp(runOf(bareWhoami.targets[0]), ROUND_WARMUP_SEC), warmUp(runOf(target), ROUND_WARMUP_SEC)]);
      const [base, result] = await Promise.all([measure(runOf(bareWhoami.targets[0])), measure(runOf(target))]);
      rps.push(result.requestsPerSec / base.requestsPerSec);
      if (result.proxyCpuUsPerReq && base.proxyCpuUsPerReq) cpu.push(result.proxyCpuUsPerReq / base.proxyCpuUsPerReq);
      say(
        `side by side ${round + 1}/${settings.sideBySideRounds} ${s.id.padEnd(18)} bare ${base.proxyCpuUsPerReq?.toFixed(0)} µs, ` +
          `${s.id.split("/")[0]} ${result.proxyCpuUsPerReq?.toFixed(0)} µs CPU/req: ${cpu.at(-1)?.toFixed(2)}×, req/s ${rps.at(-1)?.toFixed(2)}×` +
          (result.non2xx || result.errors || base.non2xx || base.errors ? "  NON-2XX OR ERRORS" : ""),
      );
    }
    sideBySide.push({ id: s.id, label: s.label, rps: spread(rps), cpu: spread(cpu) });
  }

  const rows = scenarios.map((s) => ({
    id: s.id,
    label: s.label,
    name: s.name,
    path: s.path,
    requestsPerSec: median(s.results.map((r) => r.requestsPerSec)),
    p50Ms: median(s.results.map((r) => r.p50Ms)),
    p99Ms: median(s.results.map((r) => r.p99Ms)),
    proxyCpuUsPerReq: median(s.results.map((r) => r.proxyCpuUsPerReq)),
    upstreamCpuUsPerReq: median(s.results.map((r) => r.upstreamCpuUsPerReq)),
    paired: paired(s),
    rounds: s.results,
  }));
  return { rows, notes, sideBySide };
}

/** Seconds of unmeasured load before every interleaved round after a process's first. */
const ROUND_WARMUP_SEC = 1;

/** The gateway's rows (and the forwarder's and the floors') that are also measured side by side with bare. */
const SIDE_BY_SIDE = ["hit/", "miss/", "defaults/", "forwarder/", "floor/", "missfloor/"];

/** Median and min–max of some ratios, or `undefined` for none. */
function spread(values) {
  return values.length ? { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length } : undefined;
}
