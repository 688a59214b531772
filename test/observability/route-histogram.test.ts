/**
 * The hot path's own metric bookkeeping (issue 8): `RouteHistogram` stands in for prom-client's
 * `Histogram` by route class, and the request / session-cache counters are tallied in plain Maps and
 * handed to prom-client on each scrape. A Prometheus server must not be able to tell the difference:
 * same series, same values, cumulative `le` buckets (`le` means "less than or equal"), running totals.
 */
import { Histogram, Registry } from "prom-client";
import t from "tap";
import { createMetrics } from "../../src/observability/metrics.js";
import { RouteHistogram } from "../../src/observability/route-histogram.js";

const NAME = "test_latency_seconds";
const HELP = "A latency, by route class";
const BUCKETS = [0.1, 0.5, 1];

/** The sample lines of an exposition text (no `# HELP` / `# TYPE`, no blank lines). */
const seriesLines = (text: string): string[] => text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));

/** The sample lines of one metric of a registry, with the metric's name replaced by `NAME`. */
async function series(registry: Registry, name: string): Promise<string[]> {
  return seriesLines(await registry.getSingleMetricAsString(name)).map((line) => {
    if (!line.startsWith(name)) throw new Error(`a line of another metric: ${line}`);
    return NAME + line.slice(name.length);
  });
}

function histogram(buckets: readonly number[] = BUCKETS) {
  const registry = new Registry();
  return { registry, histogram: new RouteHistogram(NAME, HELP, buckets, registry) };
}

/** `bucket lines` for one route with the given cumulative counts, then `_sum` and `_count`. */
function expectedRoute(route: string, cumulative: number[], sum: number, count: number): string[] {
  const bounds = [...BUCKETS.map(String), "+Inf"];
  return [
    ...bounds.map((le, i) => `${NAME}_bucket{le="${le}",route="${route}"} ${cumulative[i]}`),
    `${NAME}_sum{route="${route}"} ${sum}`,
    `${NAME}_count{route="${route}"} ${count}`,
  ];
}

t.test("RouteHistogram: buckets by `le` (less than or equal), +Inf, _sum and _count", async (t) => {
  const cases: { name: string; values: number[]; cumulative: number[]; sum: number }[] = [
    { name: "exactly on the first bound counts in it", values: [0.1], cumulative: [1, 1, 1, 1], sum: 0.1 },
    { name: "exactly on a middle bound counts in it, not below", values: [0.5], cumulative: [0, 1, 1, 1], sum: 0.5 },
    { name: "exactly on the last bound is not only +Inf", values: [1], cumulative: [0, 0, 1, 1], sum: 1 },
    { name: "just above a bound goes to the next", values: [0.5000001], cumulative: [0, 0, 1, 1], sum: 0.5000001 },
    { name: "above every bound: only +Inf", values: [1.5], cumulative: [0, 0, 0, 1], sum: 1.5 },
    { name: "zero is in every bucket", values: [0], cumulative: [1, 1, 1, 1], sum: 0 },
    { name: "cumulative over several values", values: [0.05, 0.2, 0.3, 0.7, 2, 5], cumulative: [1, 3, 4, 6], sum: 8.25 },
  ];
  for (const { name, values, cumulative, sum } of cases) {
    const { registry, histogram: h } = histogram();
    for (const value of values) h.observe("login", value);
    t.same(await series(registry, NAME), expectedRoute("login", cumulative, sum, values.length), name);
  }
});

t.test("RouteHistogram: routes are separate series; reset() forgets them all", async (t) => {
  const { registry, histogram: h } = histogram();
  t.same(await series(registry, NAME), [], "no series before the first observation");
  h.observe("authenticated", 0.2);
  h.observe("login", 3);
  h.observe("authenticated", 0.05);
  h.observe("authenticated", 1);
  t.same(
    await series(registry, NAME),
    [...expectedRoute("authenticated", [1, 2, 3, 3], 1.25, 3), ...expectedRoute("login", [0, 0, 0, 1], 3, 1)],
    "one block per route, in the order the routes first appeared",
  );
  // A scrape reads; it does not change the values.
  t.same(await series(registry, NAME), [
    ...expectedRoute("authenticated", [1, 2, 3, 3], 1.25, 3),
    ...expectedRoute("login", [0, 0, 0, 1], 3, 1),
  ]);

  h.reset();
  t.same(await series(registry, NAME), [], "reset(): no series left");
  h.observe("login", 0.5);
  t.same(await series(registry, NAME), expectedRoute("login", [0, 1, 1, 1], 0.5, 1), "counting starts again from zero");

  // The registry's own reset reaches it too (prom-client calls `reset()` on every registered metric).
  registry.resetMetrics();
  t.same(await series(registry, NAME), []);
});

t.test("RouteHistogram: registered in the registry as a histogram with its name and help", async (t) => {
  const { registry, histogram: h } = histogram();
  t.equal(registry.getSingleMetric(NAME), h as unknown, "found by name");
  h.observe("health", 0.01);
  const text = await registry.metrics();
  t.match(text, `# HELP ${NAME} ${HELP}\n# TYPE ${NAME} histogram\n`);
  const [json] = await registry.getMetricsAsJSON();
  t.match(json, { name: NAME, help: HELP, type: "histogram", aggregator: "sum" });
  t.equal(json?.values.length, BUCKETS.length + 3, "buckets, +Inf, _sum, _count");
  t.throws(() => new RouteHistogram(NAME, HELP, BUCKETS, registry), /already been registered/, "one metric per name, as prom-client's own");
});

/**
 * A deterministic pseudo-random sequence (xorshift32) of latencies: many on the bounds themselves,
 * the rest spread below, between and above them.
 */
function latencies(buckets: readonly number[], count: number): number[] {
  let state = 0x9e3779b9;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const last = buckets[buckets.length - 1] as number;
  return Array.from({ length: count }, () => {
    const pick = next();
    if (pick < 0.3) return buckets[Math.floor(next() * buckets.length)] as number;
    if (pick < 0.35) return 0;
    return next() * last * 1.2;
  });
}

t.test("RouteHistogram writes exactly the lines of prom-client's Histogram (labelNames [route], same buckets)", async (t) => {
  // The production buckets, read from the gateway's own request histogram.
  const metrics = createMetrics(async () => 0);
  metrics.requestDuration.observe("health", 0);
  const gatewayBuckets = (await metrics.requestDuration.get()).values
    .map((value) => value.labels.le)
    .filter((le): le is number => typeof le === "number");
  t.ok(gatewayBuckets.length >= 10, `the gateway's ${gatewayBuckets.length} latency buckets`);

  for (const [name, buckets] of [
    ["small buckets", BUCKETS],
    ["the gateway's latency buckets", gatewayBuckets],
  ] as const) {
    const ours = new Registry();
    const theirs = new Registry();
    const routeHistogram = new RouteHistogram("ours_seconds", HELP, buckets, ours);
    const promHistogram = new Histogram({
      name: "theirs_seconds",
      help: HELP,
      labelNames: ["route"],
      buckets: [...buckets],
      registers: [theirs],
    });
    const routes = ["authenticated", "public", "login", "preflight"];
    latencies(buckets, 2000).forEach((seconds, i) => {
      const route = routes[(i + (i >> 4)) % routes.length] as string; // uneven counts per route
      routeHistogram.observe(route, seconds);
      promHistogram.observe({ route }, seconds);
    });
    const got = await series(ours, "ours_seconds");
    const want = await series(theirs, "theirs_seconds");
    t.equal(got.length, routes.length * (buckets.length + 3), `${name}: every route has its buckets, +Inf, _sum, _count`);
    t.same(got, want, `${name}: the same lines, in the same order`);
    // The whole text too (names aside): HELP, TYPE, line breaks.
    t.equal(
      (await ours.metrics()).replaceAll("ours_seconds", NAME),
      (await theirs.metrics()).replaceAll("theirs_seconds", NAME),
      `${name}: the same exposition text`,
    );
  }
});

/** The value of one sample in an exposition text; undefined when there is no such series. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([label, value]) => `${label}="${value}"`)
    .sort()
    .join(",");
  for (const line of seriesLines(text)) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = (match[2] ?? "").split(",").filter(Boolean).sort().join(",");
    if (got === wanted) return Number(match[3]);
  }
  return undefined;
}

const REQUESTS = "matrix_auth_gateway_requests_total";
const CACHE = "matrix_auth_gateway_session_cache_total";

t.test("tallied counters: counted requests and cache lookups appear on a scrape, as running totals", async (t) => {
  const metrics = createMetrics(async () => 0);
  // Detached, as the gateway hands it to the session service.
  const { countCacheLookup, countRequest } = metrics;

  let text = await metrics.registry.metrics();
  t.equal(sample(text, REQUESTS, { route: "authenticated", method: "GET", status: "200" }), undefined, "nothing counted yet");
  t.equal(sample(text, CACHE, { result: "hit" }), undefined);

  countRequest("authenticated", "GET", 200);
  countRequest("authenticated", "GET", 200);
  countRequest("authenticated", "PUT", 200);
  countRequest("authenticated", "GET", 401);
  countRequest("login", "POST", 200);
  countCacheLookup(true);
  countCacheLookup(true);
  countCacheLookup(false);

  text = await metrics.registry.metrics();
  const first: [Record<string, string>, number][] = [
    [{ route: "authenticated", method: "GET", status: "200" }, 2],
    [{ route: "authenticated", method: "PUT", status: "200" }, 1],
    [{ route: "authenticated", method: "GET", status: "401" }, 1],
    [{ route: "login", method: "POST", status: "200" }, 1],
  ];
  for (const [labels, n] of first) t.equal(sample(text, REQUESTS, labels), n, `first scrape: ${JSON.stringify(labels)}`);
  t.equal(seriesLines(text).filter((line) => line.startsWith(`${REQUESTS}{`)).length, 4, "no other request series");
  t.equal(sample(text, CACHE, { result: "hit" }), 2);
  t.equal(sample(text, CACHE, { result: "miss" }), 1);

  // A scrape with nothing new in between: the same totals, not counted twice.
  text = await metrics.registry.metrics();
  for (const [labels, n] of first) t.equal(sample(text, REQUESTS, labels), n, `second scrape, nothing new: ${JSON.stringify(labels)}`);
  t.equal(sample(text, CACHE, { result: "hit" }), 2);
  t.equal(sample(text, CACHE, { result: "miss" }), 1);

  // More requests, then a scrape: the running total (not reset to the new ones, not double-counted).
  countRequest("authenticated", "GET", 200);
  countRequest("public", "GET", 200);
  countCacheLookup(false);
  countCacheLookup(true);
  countCacheLookup(true);
  text = await metrics.registry.metrics();
  t.equal(sample(text, REQUESTS, { route: "authenticated", method: "GET", status: "200" }), 3);
  t.equal(sample(text, REQUESTS, { route: "authenticated", method: "PUT", status: "200" }), 1, "untouched since: unchanged");
  t.equal(sample(text, REQUESTS, { route: "public", method: "GET", status: "200" }), 1, "a new series");
  t.equal(sample(text, CACHE, { result: "hit" }), 4);
  t.equal(sample(text, CACHE, { result: "miss" }), 2);

  // prom-client's own get() on the counter drains as well; a scrape after it neither loses nor repeats.
  countRequest("authenticated", "GET", 200);
  countCacheLookup(true);
  const viaGet = await metrics.requests.get();
  t.equal(viaGet.values.find((v) => v.labels.route === "authenticated" && v.labels.method === "GET" && v.labels.status === 200)?.value, 4);
  t.equal((await metrics.sessionCache.get()).values.find((v) => v.labels.result === "hit")?.value, 5);
  text = await metrics.registry.metrics();
  t.equal(sample(text, REQUESTS, { route: "authenticated", method: "GET", status: "200" }), 4);
  t.equal(sample(text, CACHE, { result: "hit" }), 5);
});

t.test("createMetrics: the two latency histograms are RouteHistograms in the gateway's registry", async (t) => {
  const metrics = createMetrics(async () => 7);
  metrics.requestDuration.observe("authenticated", 0.003);
  metrics.upstreamDuration.observe("authenticated", 0.002);
  metrics.upstreamDuration.observe("authenticated", 120);
  const text = await metrics.registry.metrics();
  const duration = "matrix_auth_gateway_request_duration_seconds";
  const upstream = "matrix_auth_gateway_upstream_duration_seconds";
  t.match(text, `# TYPE ${duration} histogram`);
  t.match(text, `# TYPE ${upstream} histogram`);
  t.equal(sample(text, `${duration}_count`, { route: "authenticated" }), 1);
  t.equal(sample(text, `${duration}_sum`, { route: "authenticated" }), 0.003);
  t.equal(sample(text, `${duration}_bucket`, { route: "authenticated", le: "0.0025" }), 0);
  t.equal(sample(text, `${duration}_bucket`, { route: "authenticated", le: "0.005" }), 1);
  t.equal(sample(text, `${upstream}_count`, { route: "authenticated" }), 2);
  t.equal(sample(text, `${upstream}_bucket`, { route: "authenticated", le: "0.0025" }), 1, "0.002 s ≤ 0.0025");
  t.equal(sample(text, `${upstream}_bucket`, { route: "authenticated", le: "60" }), 1, "120 s is above the last bound");
  t.equal(sample(text, `${upstream}_bucket`, { route: "authenticated", le: "+Inf" }), 2);
  t.equal(sample(text, "matrix_auth_gateway_active_sessions"), 7, "the gauge still reads the store on a scrape");
});
