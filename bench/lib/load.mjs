/**
 * One measured load run with autocannon against 127.0.0.1, plus the CPU time the proxying process
 * (and the upstream) spent during exactly that window.
 *
 * Latency percentiles are computed here from every response's own time: autocannon's histogram keeps
 * whole milliseconds, too coarse for loopback latencies.
 */
import autocannon from "autocannon";
import { cpuMicros } from "./children.mjs";

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
 * @param {number} [run.proxyPid]    the process whose CPU time is charged to each request
 * @param {number} [run.upstreamPid]
 */
export async function measure(run) {
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
    answered,
    non2xx: other,
    errors: result.errors + result.timeouts,
  };
}

/** Unmeasured load, so that JIT, pools and caches are warm before a measured run. */
export async function warmUp(run, seconds) {
  if (seconds > 0) await fire({ ...run, durationSec: seconds }, () => {});
}

function fire(run, onResponse) {
  const request = { method: run.method ?? "GET", path: run.path, headers: run.headers ?? {} };
  if (run.body !== undefined) request.body = run.body;
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
    proxy: run.proxyPid ? cpuMicros(run.proxyPid) : 0,
    upstream: run.upstreamPid ? cpuMicros(run.upstreamPid) : 0,
  };
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
