/**
 * The HTTP family: the same requests sent direct to the upstream, through reference proxies and through
 * the gateway, in interleaved rounds (each round visits every scenario, starting one further along), and
 * the median of the rounds reported. Login throughput is measured in the same rounds.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startNode } from "../lib/children.mjs";
import { describePinning, pinServer, releasePinning, setUpPinning } from "../lib/cpu-pinning.mjs";
import { measure, median, warmUp } from "../lib/load.mjs";
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
  const nginxBinary = findNginx();
  const nginx = nginxBinary ? await startNginx(nginxBinary, upstream.port, path.join(workDir, "nginx")) : undefined;
  if (!nginx) notes.push("nginx is not installed (`command -v nginx` found nothing): its rows are skipped.");

  const hit = await gateway("gateway (cache hit)", { store: sqlite("hit") });
  const miss = await gateway("gateway (cache miss)", { store: sqlite("miss"), cache: { size: 1, ttl: "1s" } });
  const defaults = await gateway("gateway (defaults)", { store: sqlite("defaults"), defaults: true });
  const loginMemory = await gateway("gateway (memory store)", { store: { type: "memory" } });
  // The upstream stays with the load generator: "direct to upstream" measures the two sharing their CPUs.
  for (const underTest of [bare, undici, forwarderOnly, nginx, hit, miss, defaults, loginMemory]) {
    if (underTest) pinServer(pinning, underTest.pid);
  }

  say(`seeding sessions: 1 (hit), ${settings.missSessions} (miss), ${settings.missSessions} users (defaults)`);
  const [hitToken] = (await hit.call({ cmd: "seed", count: 1 })).tokens;
  const missTokens = (await miss.call({ cmd: "seed", count: settings.missSessions })).tokens;
  const userTokens = (await defaults.call({ cmd: "seed", count: settings.missSessions, distinctUsers: true })).tokens;

  const scenarios = [];
  const add = (id, label, target, request) => scenarios.push({ id, label, name: id.split("/")[1], target, request, results: [] });
  const paths = [
    ["whoami", WHOAMI],
    ["sync", SYNC],
  ];
  for (const [name, urlPath] of paths) {
    const get = { path: urlPath, headers: UPSTREAM_AUTH };
    add(`direct/${name}`, "direct to upstream", { port: upstream.port }, get);
    add(`bare/${name}`, "bare http-proxy-3", bare, get);
    add(`undici/${name}`, "undici Pool.stream", undici, get);
    if (nginx) add(`nginx/${name}`, "nginx", nginx, get);
    add(`hit/${name}`, "gateway, cache hit", hit, { path: urlPath, headers: { authorization: `Bearer ${hitToken}` } });
    if (name !== "whoami") continue;
    add(`forwarder/${name}`, "gateway's forwarder alone (no auth)", forwarderOnly, get);
    add(`miss/${name}`, `gateway, cache miss (${settings.missSessions} tokens)`, miss, { path: urlPath, tokens: missTokens });
    add(`defaults/${name}`, "gateway, defaults (logs + limits on)", defaults, { path: urlPath, tokens: userTokens });
  }
  const login = { method: "POST", path: LOGIN, body: LOGIN_BODY, headers: { "content-type": "application/json" } };
  add("login-sqlite/login", "gateway, sqlite store", hit, login);
  add("login-memory/login", "gateway, memory store", loginMemory, login);

  // BENCH_SCENARIOS narrows the run to some scenarios, e.g. "hit/,defaults/" for a longer comparison.
  if (settings.scenarios) {
    const kept = scenarios.filter((s) => settings.scenarios.some((prefix) => s.id.startsWith(prefix)));
    scenarios.splice(0, scenarios.length, ...kept);
  }
  for (let round = 0; round < settings.rounds; round++) {
    const order = scenarios.map((_, i) => scenarios[(i + round) % scenarios.length]);
    for (const scenario of order) {
      const run = {
        ...scenario.request,
        port: scenario.target.port,
        connections: settings.connections,
        durationSec: settings.durationSec,
        proxyPid: scenario.target.pid,
        upstreamPid: upstream.pid,
      };
      // JIT, pools and caches stay warm after the first round.
      if (round === 0) await warmUp(run, settings.warmupSec);
      const result = await measure(run);
      scenario.results.push(result);
      say(
        `round ${round + 1}/${settings.rounds} ${scenario.id.padEnd(18)} ${result.requestsPerSec.toFixed(0).padStart(6)} req/s` +
          `  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms` +
          (result.proxyCpuUsPerReq === undefined ? "" : `  ${result.proxyCpuUsPerReq.toFixed(0)} µs CPU/req`) +
          (result.non2xx || result.errors ? `  NON-2XX ${result.non2xx} ERRORS ${result.errors}` : ""),
      );
    }
  }

  const missStats = await miss.call({ cmd: "cacheStats" });
  const hitStats = await hit.call({ cmd: "cacheStats" });
  notes.push(
    `Cache-miss gateway: store.cache_size 1 and cache_ttl 1s, ${settings.missSessions} sessions' tokens rotated per request: ` +
      `${missStats.misses} misses and ${missStats.hits} hits over the whole run (warm-ups included).`,
    `Cache-hit gateway: one token; ${hitStats.hits} hits and ${hitStats.misses} misses over the whole run.`,
  );
  const failed = scenarios.filter((s) => s.results.some((r) => r.non2xx || r.errors));
  for (const s of failed) {
    const non2xx = s.results.reduce((n, r) => n + r.non2xx, 0);
    const errors = s.results.reduce((n, r) => n + r.errors, 0);
    notes.push(`WARNING: ${s.id} had ${non2xx} non-2xx answers and ${errors} socket errors.`);
  }

  const rows = scenarios.map((s) => ({
    id: s.id,
    label: s.label,
    name: s.name,
    path: s.request.path,
    requestsPerSec: median(s.results.map((r) => r.requestsPerSec)),
    p50Ms: median(s.results.map((r) => r.p50Ms)),
    p99Ms: median(s.results.map((r) => r.p99Ms)),
    proxyCpuUsPerReq: median(s.results.map((r) => r.proxyCpuUsPerReq)),
    upstreamCpuUsPerReq: median(s.results.map((r) => r.upstreamCpuUsPerReq)),
    rounds: s.results,
  }));
  return { rows, notes };
}
