/**
 * Prometheus metrics (prom-client), one registry per gateway, served on their own listener
 * (`metrics.listen`), never on the public port.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { RouteHistogram } from "./route-histogram.js";

/** What a request was, for metrics labels and log lines: a handful of values, never a raw path. */
export type RouteLabel =
  | "login"
  | "refresh"
  | "logout"
  | "jwks"
  | "oauth"
  | "register"
  | "health"
  | "ready"
  | "public"
  | "authenticated"
  | "passthrough"
  | "preflight"
  | "rejected";

export interface Metrics {
  registry: Registry;
  /** Counts an answered request (`matrix_auth_gateway_requests_total`). */
  countRequest(route: RouteLabel, method: string, status: number): void;
  /** Counts a hot-path session lookup (`matrix_auth_gateway_session_cache_total`). */
  countCacheLookup(hit: boolean): void;
  requests: Counter<"route" | "method" | "status">;
  requestDuration: RouteHistogram;
  upstreamDuration: RouteHistogram;
  logins: Counter<"outcome">;
  refreshes: Counter<"outcome">;
  rateLimited: Counter<"policy">;
  sessionCache: Counter<"result">;
  storeErrors: Counter<"operation">;
  /** Requests carrying a homeserver token during `migration.accept_homeserver_tokens_until` (the tail to watch). */
  homeserverTokenRequests: Counter<"outcome">;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The two counters touched by every request are counted in plain Maps and handed to prom-client when it
 * collects (each scrape, or `get()`): `Counter.inc(labels)` validates the labels and builds a hash string
 * per call, which showed in the hot path's profile. Nested Maps allocate nothing per request.
 */
function createRequestTally() {
  let counts = new Map<string, Map<string, Map<number, number>>>();
  return {
    add(route: string, method: string, status: number): void {
      let byMethod = counts.get(route);
      if (!byMethod) {
        byMethod = new Map();
        counts.set(route, byMethod);
      }
      let byStatus = byMethod.get(method);
      if (!byStatus) {
        byStatus = new Map();
        byMethod.set(method, byStatus);
      }
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    },
    drain(into: Counter<"route" | "method" | "status">): void {
      const drained = counts;
      counts = new Map();
      for (const [route, byMethod] of drained)
        for (const [method, byStatus] of byMethod) for (const [status, n] of byStatus) into.inc({ route, method, status }, n);
    },
  };
}

export function createMetrics(countSessions: () => Promise<number>): Metrics {
  const registry = new Registry();
  const requestTally = createRequestTally();
  const cacheLookups = { hit: 0, miss: 0 };
  // prom-client's names already say what they are (process_cpu_seconds_total, nodejs_eventloop_lag_seconds):
  // the gateway's prefix goes in front, once.
  collectDefaultMetrics({ register: registry, prefix: "matrix_auth_gateway_" });
  const metric = { registers: [registry] };
  new Gauge({
    name: "matrix_auth_gateway_active_sessions",
    help: "Login sessions in the store",
    ...metric,
    async collect() {
      this.set(await countSessions());
    },
  });
  return {
    registry,
    countRequest: (route, method, status) => requestTally.add(route, method, status),
    countCacheLookup(hit) {
      if (hit) cacheLookups.hit++;
      else cacheLookups.miss++;
    },
    requests: new Counter({
      name: "matrix_auth_gateway_requests_total",
      help: "Requests answered, by route class, method and status",
      labelNames: ["route", "method", "status"],
      ...metric,
      collect() {
        requestTally.drain(this);
      },
    }),
    requestDuration: new RouteHistogram(
      "matrix_auth_gateway_request_duration_seconds",
      "Time from request to the end of the response, by route class",
      LATENCY_BUCKETS,
      registry,
    ),
    upstreamDuration: new RouteHistogram(
      "matrix_auth_gateway_upstream_duration_seconds",
      "Time until the homeserver's response headers, by route class",
      LATENCY_BUCKETS,
      registry,
    ),
    logins: new Counter({
      name: "matrix_auth_gateway_logins_total",
      help: "Login attempts by outcome (ok, refused, limited, invalid, error)",
      labelNames: ["outcome"],
      ...metric,
    }),
    refreshes: new Counter({
      name: "matrix_auth_gateway_refreshes_total",
      help: "Refresh attempts by outcome (ok, retry_in_grace, sibling_superseded, theft, refused, limited)",
      labelNames: ["outcome"],
      ...metric,
    }),
    rateLimited: new Counter({
      name: "matrix_auth_gateway_rate_limited_total",
      help: "Requests refused by a rate limit, by policy",
      labelNames: ["policy"],
      ...metric,
    }),
    sessionCache: new Counter({
      name: "matrix_auth_gateway_session_cache_total",
      help: "Session lookups on the hot path, by result (hit, miss)",
      labelNames: ["result"],
      ...metric,
      collect() {
        if (cacheLookups.hit) this.inc({ result: "hit" }, cacheLookups.hit);
        if (cacheLookups.miss) this.inc({ result: "miss" }, cacheLookups.miss);
        cacheLookups.hit = 0;
        cacheLookups.miss = 0;
      },
    }),
    storeErrors: new Counter({
      name: "matrix_auth_gateway_store_errors_total",
      help: "Store operations that failed",
      labelNames: ["operation"],
      ...metric,
    }),
    homeserverTokenRequests: new Counter({
      name: "matrix_auth_gateway_homeserver_token_requests_total",
      help: "Requests carrying a homeserver token during the migration window, by outcome (proxied, logout, refused); graph its daily increase",
      labelNames: ["outcome"],
      ...metric,
    }),
  };
}

/** The metrics listener: `GET /metrics` in the Prometheus text format, nothing else. */
export async function serveMetrics(metrics: Metrics, host: string, port: number): Promise<{ server: http.Server; address: AddressInfo }> {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" || (req.url !== "/metrics" && !req.url?.startsWith("/metrics?"))) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": metrics.registry.contentType }).end(text),
      () => res.writeHead(500, { "Content-Type": "text/plain" }).end("metrics failed\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, address: server.address() as AddressInfo };
}
