/**
 * `npm run bench:profile [-- login]`: one scenario with the gateway profiled (node:inspector, sampling every
 * 200 µs over the measured window only: startup, seeding and warm-up stay out), then a summary of where its CPU
 * time went. Scenarios: `hit` (default: authenticated GET whoami, one token,
 * cache hit) and `login` (POST login against the fake upstream login).
 * Writes bench/results/profile-SCENARIO.md and keeps the .cpuprofile beside it (open it in Chrome DevTools).
 *
 * Environment: BENCH_PROFILE_DURATION [5] seconds, BENCH_CONNECTIONS [32], BENCH_PROFILE_RATE [unset: as fast as
 * answered] requests/s offered.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startNode, stopAll } from "./lib/children.mjs";
import { summarize } from "./lib/cpuprofile.mjs";
import { measure, warmUp } from "./lib/load.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const scenario = process.argv[2] ?? "hit";
if (!["hit", "miss", "defaults", "login", "bare"].includes(scenario)) {
  console.error("usage: node bench/profile.mjs [hit|miss|defaults|login|bare]");
  process.exit(2);
}
const TITLES = {
  hit: "authenticated GET whoami, cache hit",
  miss: "authenticated GET whoami, a real miss on every request (cache_size 1, jwt.verified_cache_size 0, 2,000 sessions' tokens in turn)",
  defaults: "authenticated GET whoami, cache hit, logging and rate limits as shipped (2,000 users' tokens in turn)",
  login: "POST login",
  bare: "GET whoami through the bare http-proxy-3 proxy (the reference)",
};
const seconds = Number(process.env.BENCH_PROFILE_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
// A fixed offered rate compares two servers in the same regime (as fast as possible, the slower one
// batches fewer requests per event-loop turn and per system call, which costs CPU by itself).
const rate = Number(process.env.BENCH_PROFILE_RATE ?? 0) || undefined;

const workDir = mkdtempSync(path.join(os.tmpdir(), "matrix-auth-gateway-profile-"));
process.once("exit", () => rmSync(workDir, { recursive: true, force: true }));
let summary;
let run;
let profileFile;
try {
  const upstream = await startNode("upstream", path.join(here, "servers", "upstream.mjs"));
  const gateway = await startNode(
    scenario === "bare" ? "bare" : "gateway",
    path.join(here, "servers", scenario === "bare" ? "bare-proxy.mjs" : "gateway.mjs"),
    {
      upstream: `http://127.0.0.1:${upstream.port}`,
      store: { type: "sqlite", path: path.join(workDir, "gateway.sqlite") },
      defaults: scenario === "defaults",
      ...(scenario === "miss" ? { cache: { size: 1, ttl: "1s", verified: 0 } } : {}),
    },
  );
  const load = { port: gateway.port, connections, rate, proxyPid: gateway.pid, upstreamPid: upstream.pid };
  if (scenario === "bare") {
    Object.assign(load, { path: "/_matrix/client/v3/account/whoami", headers: { authorization: "Bearer bench" } });
  } else if (scenario === "miss") {
    const { tokens } = await gateway.call({ cmd: "seed", count: 2000 });
    Object.assign(load, { path: "/_matrix/client/v3/account/whoami", tokens });
  } else if (scenario === "defaults") {
    // Distinct users, so that the per-user limit (600/min) is never reached.
    const { tokens } = await gateway.call({ cmd: "seed", count: 2000, distinctUsers: true });
    Object.assign(load, { path: "/_matrix/client/v3/account/whoami", tokens });
  } else if (scenario === "hit") {
    const [token] = (await gateway.call({ cmd: "seed", count: 1 })).tokens;
    Object.assign(load, { path: "/_matrix/client/v3/account/whoami", headers: { authorization: `Bearer ${token}` } });
  } else {
    const body = JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "bench" },
      password: "bench",
      refresh_token: true,
    });
    Object.assign(load, { method: "POST", path: "/_matrix/client/v3/login", body, headers: { "content-type": "application/json" } });
  }
  await warmUp({ ...load, durationSec: 3 }, 3);
  mkdirSync(path.join(here, "results"), { recursive: true });
  profileFile = path.join(here, "results", `profile-${scenario}.cpuprofile`);
  await gateway.call({ cmd: "profileStart" });
  run = await measure({ ...load, durationSec: seconds });
  await gateway.call({ cmd: "profileStop", file: profileFile });
  summary = summarize(profileFile);
} finally {
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
}

const report = [
  `## Profile: ${TITLES[scenario]} (${new Date().toISOString()})`,
  "",
  `${seconds} s under load (${connections} connections${rate ? `, ${rate} req/s offered` : ""}), ${scenario === "defaults" ? "gateway with logging and rate limits as shipped" : "gateway with log.level warn, log.requests false, rate limits off"}, sqlite store.`,
  `${run.requestsPerSec.toFixed(0)} req/s, ${run.proxyCpuUsPerReq.toFixed(0)} µs CPU/req while profiling (the profiler itself costs some).`,
  "",
  summary.markdown,
].join("\n");
writeFileSync(path.join(here, "results", `profile-${scenario}.md`), report);
console.log(report);
console.log(`Written: bench/results/profile-${scenario}.md and ${path.relative(process.cwd(), profileFile)}`);
