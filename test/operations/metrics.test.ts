/**
 * Prometheus metrics (docs/operations.md, "Metrics"): served on their own listener (`metrics.listen`), never on the
 * public port, and each metric moves when the thing it counts happens.
 */
import t, { type Test } from "tap";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/store.js";
import { bearer, type StartOptions, startGateway, type TestGateway } from "../helpers/gateway.js";

const METRICS_YAML = "metrics: {listen: {host: 127.0.0.1, port: 0}}";
const REFRESH = "/_matrix/client/v3/refresh";
const WHOAMI = "/_matrix/client/v3/account/whoami";

async function start(t: Test, options: StartOptions = {}): Promise<TestGateway & { scrape: () => Promise<string> }> {
  const gw = await startGateway(t, { yaml: METRICS_YAML, ...options });
  const address = gw.gateway.metricsAddress();
  if (!address) throw new Error("the metrics listener is not up");
  const scrape = async () => {
    const response = await fetch(`http://127.0.0.1:${address.port}/metrics`);
    if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
    return response.text();
  };
  return { ...gw, scrape };
}

/** The value of one sample, e.g. value(text, "x_total", {outcome: "ok"}); 0 when the series does not exist yet. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(match[3]);
  }
  return 0;
}

const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

t.test("the public port does not serve /metrics", async (t) => {
  const gw = await start(t);
  const reply = await gw.request("/metrics");
  t.equal(reply.status, 404);
  t.match(reply.body, { errcode: "M_UNRECOGNIZED" });
  // …while the metrics listener does, and answers nothing else.
  t.match(await gw.scrape(), /# TYPE matrix_auth_gateway_requests_total counter/);
  const port = gw.gateway.metricsAddress()?.port;
  t.equal((await fetch(`http://127.0.0.1:${port}/_matrix/client/versions`)).status, 404);
});

t.test("without metrics.listen there is no metrics listener", async (t) => {
  const gw = await startGateway(t);
  t.equal(gw.gateway.metricsAddress(), undefined);
});

t.test("a login counts exactly one ok login; requests, durations, sessions and the cache move", async (t) => {
  const gw = await start(t);
  const before = await gw.scrape();
  t.equal(value(before, "matrix_auth_gateway_logins_total", { outcome: "ok" }), 0);
  t.equal(value(before, "matrix_auth_gateway_active_sessions"), 0);

  const login = await gw.login();
  const afterLogin = await gw.scrape();
  t.equal(value(afterLogin, "matrix_auth_gateway_logins_total", { outcome: "ok" }), 1, "one login, one count");
  t.equal(value(afterLogin, "matrix_auth_gateway_requests_total", { route: "login", method: "POST", status: "200" }), 1);
  t.equal(value(afterLogin, "matrix_auth_gateway_request_duration_seconds_count", { route: "login" }), 1);
  t.equal(value(afterLogin, "matrix_auth_gateway_active_sessions"), 1);

  // A wrong password is a refused login, not an ok one.
  const refused = await gw.request("/_matrix/client/v3/login", post({ type: "m.login.password", user: "alice", password: "nope" }));
  t.equal(refused.status, 403);
  const afterRefused = await gw.scrape();
  t.equal(value(afterRefused, "matrix_auth_gateway_logins_total", { outcome: "ok" }), 1);
  t.equal(value(afterRefused, "matrix_auth_gateway_logins_total", { outcome: "refused" }), 1);

  // The session was cached at login: a proxied request is a cache hit and has an upstream duration.
  t.equal((await gw.request(WHOAMI, { headers: bearer(login.access_token) })).status, 200);
  let text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_session_cache_total", { result: "hit" }), 1);
  t.equal(value(text, "matrix_auth_gateway_session_cache_total", { result: "miss" }), 0);
  t.equal(value(text, "matrix_auth_gateway_upstream_duration_seconds_count", { route: "authenticated" }), 1);
  t.equal(value(text, "matrix_auth_gateway_requests_total", { route: "authenticated", method: "GET", status: "200" }), 1);

  // A reload starts a fresh runtime with an empty cache: the next lookup is a miss, the one after a hit.
  gw.gateway.reload(gw.config);
  t.equal((await gw.request(WHOAMI, { headers: bearer(login.access_token) })).status, 200);
  t.equal((await gw.request(WHOAMI, { headers: bearer(login.access_token) })).status, 200);
  text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_session_cache_total", { result: "miss" }), 1);
  t.equal(value(text, "matrix_auth_gateway_session_cache_total", { result: "hit" }), 2);

  // Logging out ends the session: the gauge reads the store.
  t.equal((await gw.request("/_matrix/client/v3/logout", { method: "POST", headers: bearer(login.access_token) })).status, 200);
  t.equal(value(await gw.scrape(), "matrix_auth_gateway_active_sessions"), 0);
});

t.test("refreshes are counted by outcome: ok, retry_in_grace, theft", async (t) => {
  const gw = await start(t);
  const login = await gw.login();
  const r0 = login.refresh_token as string;

  const first = await gw.request(REFRESH, post({ refresh_token: r0 }));
  t.equal(first.status, 200);
  let text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "ok" }), 1);
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "retry_in_grace" }), 0);

  // The same token again, within the grace and before its successor was used: a lost response.
  const retry = await gw.request(REFRESH, post({ refresh_token: r0 }));
  t.equal(retry.status, 200);
  text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "retry_in_grace" }), 1);
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "ok" }), 1, "a retry is not counted as ok");

  // Past the grace the old token is theft: the session is revoked.
  gw.clock.advance(31_000);
  const theft = await gw.request(REFRESH, post({ refresh_token: r0 }));
  t.equal(theft.status, 401);
  t.match(theft.body, { errcode: "M_UNKNOWN_TOKEN", soft_logout: true });
  text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "theft" }), 1);
  t.equal(value(text, "matrix_auth_gateway_active_sessions"), 0);

  // A token of the revoked session is then simply refused.
  const after = await gw.request(REFRESH, post({ refresh_token: retry.body.refresh_token }));
  t.equal(after.status, 401);
  text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "refused" }), 1);
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "theft" }), 1);
});

t.test("a sibling refused quietly is counted as sibling_superseded", async (t) => {
  const gw = await start(t);
  const login = await gw.login();
  // Two tabs refresh with one token: two pairs; the second one used is refused, the session kept.
  const [a, b] = await Promise.all([0, 1].map(() => gw.request(REFRESH, post({ refresh_token: login.refresh_token }))));
  t.equal((await gw.request(REFRESH, post({ refresh_token: a?.body.refresh_token }))).status, 200);
  t.equal((await gw.request(REFRESH, post({ refresh_token: b?.body.refresh_token }))).status, 401);
  const text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "sibling_superseded" }), 1);
  t.equal(value(text, "matrix_auth_gateway_refreshes_total", { outcome: "theft" }), 0);
  t.equal(value(text, "matrix_auth_gateway_active_sessions"), 1);
});

t.test("a tripped rate limit is counted by policy", async (t) => {
  const gw = await start(t, { rateLimits: "rate_limits: {enabled: true, public: {per_address: {points: 2, duration: 1m}}}" });
  for (const expected of [200, 200, 429]) {
    t.equal((await gw.request("/_matrix/client/versions")).status, expected);
  }
  const text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_rate_limited_total", { policy: "public_address" }), 1);
  t.equal(value(text, "matrix_auth_gateway_requests_total", { route: "public", method: "GET", status: "429" }), 1);
});

t.test("a failing store operation is counted", async (t) => {
  // A store whose writes fail on demand (a full disk).
  let failing = false;
  const memory = createMemoryStore();
  const store: Store = {
    ...memory,
    async createSession(session) {
      if (failing) throw new Error("disk full");
      return memory.createSession(session);
    },
  };
  const gw = await start(t, { deps: { store } });
  t.equal(value(await gw.scrape(), "matrix_auth_gateway_store_errors_total", { operation: "createSession" }), 0);
  failing = true;
  const reply = await gw.request("/_matrix/client/v3/login", post({ type: "m.login.password", user: "alice", password: "wonderland" }));
  t.equal(reply.status, 503);
  t.match(reply.body, { errcode: "M_UNKNOWN" });
  const text = await gw.scrape();
  t.equal(value(text, "matrix_auth_gateway_store_errors_total", { operation: "createSession" }), 1);
  t.equal(value(text, "matrix_auth_gateway_logins_total", { outcome: "ok" }), 0);
  t.equal(value(text, "matrix_auth_gateway_logins_total", { outcome: "error" }), 1);
});

t.test("every documented metric is exposed with its type", async (t) => {
  const gw = await start(t);
  const text = await gw.scrape();
  const expected: [string, string][] = [
    ["matrix_auth_gateway_requests_total", "counter"],
    ["matrix_auth_gateway_request_duration_seconds", "histogram"],
    ["matrix_auth_gateway_upstream_duration_seconds", "histogram"],
    ["matrix_auth_gateway_logins_total", "counter"],
    ["matrix_auth_gateway_refreshes_total", "counter"],
    ["matrix_auth_gateway_active_sessions", "gauge"],
    ["matrix_auth_gateway_rate_limited_total", "counter"],
    ["matrix_auth_gateway_session_cache_total", "counter"],
    ["matrix_auth_gateway_store_errors_total", "counter"],
  ];
  for (const [name, type] of expected) t.match(text, `# TYPE ${name} ${type}\n`, name);
  // Node's process metrics under the gateway's prefix, once: matrix_auth_gateway_process_cpu_seconds_total,
  // not matrix_auth_gateway_process_process_cpu_seconds_total.
  t.match(text, "# TYPE matrix_auth_gateway_process_cpu_seconds_total counter\n", "process metrics under the gateway's prefix");
  t.match(text, /# TYPE matrix_auth_gateway_nodejs_eventloop_lag_seconds gauge\n/, "Node's own metrics too");
  const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string);
  t.same(
    names.filter((name) => !name.startsWith("matrix_auth_gateway_")),
    [],
    "every metric has the one prefix",
  );
  t.same(
    names.filter((name) => /^matrix_auth_gateway_(process_process|nodejs_nodejs|matrix_auth_gateway)_/.test(name)),
    [],
    "no prefix is doubled",
  );
});
