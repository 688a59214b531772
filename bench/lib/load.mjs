/**
 * One measured load run against 127.0.0.1, plus the CPU time the proxying process (and the upstream)
 * spent during exactly that window.
 *
 * The load generator is wrk when it is installed (`apt-get install -y wrk`), autocannon otherwise, and
 * always autocannon for a fixed offered rate (wrk has none). wrk is C and costs a fraction of the CPU per
 * request that autocannon (JavaScript, in this process) does, which matters on a 2-core machine where the
 * load generator, the proxy and the upstream share the cores. `BENCH_LOADGEN=autocannon` forces autocannon.
 *
 * Latency percentiles: wrk's own histogram (microseconds); with autocannon they are computed here from
 * every response's own time, because autocannon's histogram keeps whole milliseconds.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { cpuMicros, cpuUserMicros, userMicros } from "./children.mjs";

/** `wrk` when it is on the PATH and not turned off; otherwise `autocannon`. */
export const LOAD_GENERATOR = (() => {
  if (process.env.BENCH_LOADGEN === "autocannon") return "autocannon";
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (error) {
    // wrk --version exits 1 after printing its usage: present. ENOENT: absent.
    if (error?.code === "ENOENT") return "autocannon";
  }
  return "wrk";
})();

/**
 * @param {object} run
 * @param {number} run.port          where to send the load
 * @param {string} run.path
 * @param {string} [run.method]
 * @param {object} [run.headers]
 * @param {string} [run.body]
 * @param {string[]} [run.tokens]    rotated per request as `Authorization: Bearer …`
 * @param {number} run.connections
 * @param {number} run.durationSec
 * @param {number} [run.rate]        requests/s offered in total (autocannon `overallRate`); unset: as fast as answered
 * @param {string[]} [run.refreshChains]  refresh tokens, one per chain: each request is `POST run.path` with
 *                                   `{"refresh_token": …}` from the head of the queue, and the answer's
 *                                   `refresh_token` joins its tail (a chain whose answer is not 200, or is still
 *                                   in flight when the run ends, drops out). Replaced in place by the newest tokens.
 * @param {number | number[]} [run.proxyPid]  the process (or processes: a primary and its workers) whose CPU
 *                                   time is charged to each request
 * @param {number} [run.upstreamPid]
 */
export async function measure(run) {
  if (LOAD_GENERATOR === "wrk" && !run.rate) return measureWithWrk(run);
  const cpuBefore = readCpu(run);
  const latencies = [];
  let ok = 0;
  let other = 0;
  const started = performance.now();
  const result = await fire(run, (statusCode, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      latencies.push(responseTime);
    } else {
      other++;
    }
  });
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = readCpu(run);
  const answered = ok + other;
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSec: answered / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    proxyCpuUsPerReq: run.proxyPid ? (cpuAfter.proxy - cpuBefore.proxy) / answered : undefined,
    upstreamCpuUsPerReq: run.upstreamPid ? (cpuAfter.upstream - cpuBefore.upstream) / answered : undefined,
    foreignShare: foreignShare(cpuBefore, cpuAfter, seconds),
    answered,
    non2xx: other,
    errors: result.errors + result.timeouts,
  };
}

/** Unmeasured load, so that JIT, pools and caches are warm before a measured run. */
export async function warmUp(run, seconds) {
  if (seconds <= 0) return;
  if (LOAD_GENERATOR === "wrk" && !run.rate) await wrk({ ...run, durationSec: seconds });
  else await fire({ ...run, durationSec: seconds }, () => {});
}

async function measureWithWrk(run) {
  const cpuBefore = readCpu(run);
  const started = performance.now();
  const result = await wrk(run);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = readCpu(run);
  const answered = result.requests;
  return {
    requestsPerSec: answered / seconds,
    p50Ms: result.p50Us / 1000,
    p99Ms: result.p99Us / 1000,
    proxyCpuUsPerReq: run.proxyPid ? (cpuAfter.proxy - cpuBefore.proxy) / answered : undefined,
    upstreamCpuUsPerReq: run.upstreamPid ? (cpuAfter.upstream - cpuBefore.upstream) / answered : undefined,
    foreignShare: foreignShare(cpuBefore, cpuAfter, seconds),
    answered,
    // wrk counts answers other than 2xx/3xx as status errors; the bench answers no 3xx.
    non2xx: result.status,
    errors: result.connect + result.read + result.write + result.timeout,
  };
}

/** Lua for wrk: the run's summary as one JSON line (the function's `end` is the caller's). */
const WRK_DONE = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK_JSON {"requests":%d,"p50":%d,"p99":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))`;

/** Lua for wrk: the request (method, body, headers), tokens rotated per request, a JSON summary at the end. */
function wrkScript(run) {
  if (run.refreshChains) return wrkChainScript(run);
  const request = { method: run.method ?? "GET", path: run.path, headers: run.headers ?? {}, body: run.body };
  const lua = [
    `local method, path, body = ${luaString(request.method)}, ${luaString(request.path)}, ${request.body === undefined ? "nil" : luaString(request.body)}`,
    `local headers = {${Object.entries(request.headers)
      .map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`)
      .join(", ")}}`,
    `local tokens = {${(run.tokens ?? []).map(luaString).join(",\n")}}`,
    "local next = 0",
    run.tokens?.length
      ? // Formatted once per token, before the run: formatting per request costs the load generator CPU that it
        // shares with the upstream, and a server it cannot keep loaded spends more CPU per request.
        // In init: the Host header that wrk.format adds is known only once the thread is set up.
        `local requests = {}
init = function()
  for i, token in ipairs(tokens) do
    headers["Authorization"] = "Bearer " .. token
    requests[i] = wrk.format(method, path, headers, body)
  end
end
request = function()
  next = next % #requests + 1
  return requests[next]
end`
      : "local fixed = nil\nrequest = function()\n  fixed = fixed or wrk.format(method, path, headers, body)\n  return fixed\nend",
    `${WRK_DONE}
end`,
  ];
  return lua.join("\n");
}

/**
 * Lua for wrk: refresh chains. wrk cannot tell which connection an answer came on, so the tokens wait in one
 * queue (globals: `done` reads them from the thread's state) and each answer's new token joins its tail.
 */
function wrkChainScript(run) {
  return `queue = {${run.refreshChains.map(luaString).join(",\n")}}
head, tail = 1, #queue
local threads = {}
setup = function(thread) table.insert(threads, thread) end
local headers = {["Content-Type"] = "application/json"}
request = function()
  local token = queue[head] or "magr_none"
  queue[head] = nil
  head = head + 1
  return wrk.format("POST", ${luaString(run.path)}, headers, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, _, body)
  local token = status == 200 and string.match(body, '"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
${WRK_DONE}
  for _, thread in ipairs(threads) do
    local q, h, t = thread:get("queue"), thread:get("head"), thread:get("tail")
    local left = {}
    for i = h, t do if q[i] then left[#left + 1] = q[i] end end
    io.write("WRK_CHAINS " .. table.concat(left, " ") .. "\\n")
  end
end`;
}

const luaString = (text) =>
  `"${String(text)
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")}"`;

/** One wrk run (one thread: one core at most), resolved with its JSON summary. */
function wrk(run) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-wrk-"));
  const script = path.join(dir, "load.lua");
  writeFileSync(script, wrkScript(run));
  const args = ["-t1", `-c${run.connections}`, `-d${run.durationSec}s`, "--timeout", "10s", "-s", script, `http://127.0.0.1:${run.port}`];
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    child.once("error", reject);
    // "close", not "exit": the process can exit before its output has been read to the end.
    child.once("close", (code) => {
      rmSync(dir, { recursive: true, force: true });
      const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "));
      if (code !== 0 || !line) return reject(new Error(`wrk failed (exit ${code}):\n${out}`));
      const summary = JSON.parse(line.slice(9));
      const chains = out.split("\n").find((l) => l.startsWith("WRK_CHAINS "));
      if (run.refreshChains) run.refreshChains.splice(0, Infinity, ...(chains?.slice(11).split(" ").filter(Boolean) ?? []));
      resolve({ ...summary, p50Us: summary.p50, p99Us: summary.p99 });
    });
  });
}

function fire(run, onResponse) {
  const request = { method: run.method ?? "GET", path: run.path, headers: run.headers ?? {} };
  if (run.body !== undefined) request.body = run.body;
  if (run.refreshChains) {
    // The same queue as wrk's (wrkChainScript), kept in the array itself.
    const queue = run.refreshChains;
    request.method = "POST";
    request.headers = { ...request.headers, "content-type": "application/json" };
    request.setupRequest = (req) => ({ ...req, body: JSON.stringify({ refresh_token: queue.shift() ?? "magr_none" }) });
    request.onResponse = (status, body) => {
      if (status === 200) queue.push(JSON.parse(body).refresh_token);
    };
  }
  if (run.tokens?.length) {
    let next = 0;
    const tokens = run.tokens;
    request.setupRequest = (req) => {
      req.headers = { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` };
      return req;
    };
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${run.port}`,
        connections: run.connections,
        pipelining: 1,
        duration: run.durationSec,
        timeout: 10,
        requests: [request],
        ...(run.rate ? { overallRate: run.rate } : {}),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => onResponse(statusCode, responseTime));
  });
}

function readCpu(run) {
  return {
    proxy: run.proxyPid ? [run.proxyPid].flat().reduce((sum, pid) => sum + cpuMicros(pid), 0) : 0,
    upstream: run.upstreamPid ? cpuMicros(run.upstreamPid) : 0,
    serverCpu: run.serverCpu === undefined ? undefined : cpuUserMicros(run.serverCpu),
    proxyUser: run.serverCpu === undefined || !run.proxyPid ? 0 : [run.proxyPid].flat().reduce((sum, pid) => sum + userMicros(pid), 0),
  };
}

/**
 * Share of the measured window in which the server's own CPU (it runs alone there when pinned) ran another
 * program's code: user time of that CPU beyond the server's own. Above NOISY_SHARE the round is flagged, and the
 * paired ratios leave it out. On a quiet 2-core machine here the share read 4–7% (tick rounding, the system's
 * own agents); beside a second test suite it read 39–56%.
 */
export const NOISY_SHARE = 0.1;
function foreignShare(before, after, seconds) {
  if (before.serverCpu === undefined || after.serverCpu === undefined) return undefined;
  const foreign = after.serverCpu - before.serverCpu - (after.proxyUser - before.proxyUser);
  return Math.max(0, foreign) / (seconds * 1e6);
}

function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function median(values) {
  const defined = values.filter((v) => v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b);
  if (defined.length === 0) return undefined;
  const mid = Math.floor(defined.length / 2);
  return defined.length % 2 ? defined[mid] : (defined[mid - 1] + defined[mid]) / 2;
}
