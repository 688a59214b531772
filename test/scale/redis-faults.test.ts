/**
 * A Redis outage, with a redis-server of this test's own (REDIS_SERVER_BIN, or `redis-server` on PATH)
 * that it kills mid-test and starts again on the same port (docs/scaling.md):
 * - rate limits keep working from each instance's memory (the insurance limiter);
 * - a session in the in-process cache keeps working; one that is not cached fails closed, 503 M_UNKNOWN,
 *   and so do login and refresh; no request waits on the dead Redis (each answers well within 1.5 s);
 * - once Redis is back on the same port, login and whoami work again without restarting the gateway.
 * Its Redis keeps an append-only file (fsync always), so sessions survive the restart as with a
 * persistent production Redis. Skipped when no redis-server binary is found.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Redis } from "ioredis";
import t, { type Test } from "tap";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import { freePort } from "../helpers/http.js";
import { sleep } from "../helpers/processes.js";
import { ALICE, limitsCountedInRedis, WHOAMI } from "./shared.js";

/** REDIS_SERVER_BIN (set by .ci/run), else `redis-server` found on PATH. */
function redisServerBinary(): string | undefined {
  if (process.env.REDIS_SERVER_BIN) return process.env.REDIS_SERVER_BIN;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "redis-server");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const REDIS_SERVER = redisServerBinary();
if (!REDIS_SERVER) {
  t.plan(0, "no redis-server binary (REDIS_SERVER_BIN or PATH): cannot stop and start a Redis of our own");
  process.exit(0);
}

/** No request may wait on a dead Redis: `store.redis.command_timeout` is 500ms, and a known-dead connection fails at once. */
const MAX_REQUEST_MS = 1_500;

/** Answers `PING` with `+PONG` on `port`? */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    socket.setTimeout(500, () => socket.destroy());
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      if (reply.includes("\r\n")) socket.end();
    });
    socket.on("close", () => resolve(reply.startsWith("+PONG")));
    socket.on("error", () => resolve(false));
  });
}

interface OwnRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A redis-server child on a free loopback port; `stop` kills it (SIGKILL), `start` brings it back on the same port and data. */
async function ownRedis(t: Test): Promise<OwnRedis> {
  const port = await freePort();
  const dir = t.testdir({});
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      REDIS_SERVER as string,
      ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100 && !(await pong(port)); i++) await sleep(50);
    if (!(await pong(port))) throw new Error(`redis-server did not answer on port ${port}`);
  };
  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  t.teardown(stop);
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

/** A request through the gateway, timed. */
async function timed(gw: TestGateway, urlPath: string, init?: RequestInit) {
  const started = performance.now();
  const reply = await gw.request(urlPath, init);
  return { ...reply, ms: performance.now() - started };
}

const loginBody = (user: string, password: string) => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password, refresh_token: true }),
});
const refreshBody = (refreshToken: string) => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ refresh_token: refreshToken }),
});

const UNAVAILABLE = { errcode: "M_UNKNOWN", error: "The session store is unavailable" };
const PER_USER_POINTS = 4;

t.test("Redis goes away and comes back: cached sessions and rate limits carry on, the rest fails closed", async (t) => {
  const redis = await ownRedis(t);
  const prefix = "faults-test:";
  const gw = await startGateway(t, {
    storeYaml: `store: {type: redis, url: "${redis.url}", redis: {key_prefix: "${prefix}", command_timeout: 500ms}, revocation_poll: 1s}`,
    // A small per-user limit to watch; login limits roomy enough for the recovery poll below.
    rateLimits: `rate_limits: {per_user: {points: ${PER_USER_POINTS}, duration: 1m}, login: {per_address: {points: 100, duration: 1m}, per_account: {points: 100, duration: 1m}}}`,
  });
  const port = Number(new URL(gw.url).port);
  const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  probe.on("error", () => {});
  t.teardown(() => probe.disconnect());
  t.ok(await limitsCountedInRedis(port, probe, prefix), "rate limits are counted in Redis while it is up");

  const alice = await gw.login();
  const bob = await gw.login({ user: "bob", password: "builder" });
  // A fresh runtime has an empty session cache: alice's session is read from Redis once (and cached),
  // bob's is never read again before the outage.
  gw.gateway.reload(gw.config);
  const before = await timed(gw, WHOAMI, { headers: bearer(alice.access_token) });
  t.equal(before.status, 200);
  t.same(before.body, { user_id: ALICE, device_id: alice.device_id });

  await redis.stop();
  // The gateway notices at once (the connection closes); /ready says so.
  let ready = await timed(gw, "/ready");
  for (let i = 0; i < 60 && ready.status === 200; i++) {
    await sleep(50);
    ready = await timed(gw, "/ready");
  }
  t.equal(ready.status, 503, "not ready while Redis is down");
  t.same(Object.keys(ready.body).sort(), ["reason", "status", "store", "upstream"]);
  t.match(ready.body, { status: "not ready", store: "failing", upstream: "ok", reason: /^the session store cannot be (read|written)$/ });

  const during: { what: string; ms: number }[] = [{ what: "ready", ms: ready.ms }];
  for (let i = 1; i <= PER_USER_POINTS; i++) {
    const reply = await timed(gw, WHOAMI, { headers: bearer(alice.access_token) });
    during.push({ what: `cached whoami ${i}`, ms: reply.ms });
    t.equal(reply.status, 200, `the cached session works (${i})`);
    t.same(reply.body, { user_id: ALICE, device_id: alice.device_id });
  }
  const limited = await timed(gw, WHOAMI, { headers: bearer(alice.access_token) });
  during.push({ what: "limited whoami", ms: limited.ms });
  t.equal(limited.status, 429, `request ${PER_USER_POINTS + 1} is refused: the limit is counted in memory meanwhile`);
  t.match(limited.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: Number });

  const uncached = await timed(gw, WHOAMI, { headers: bearer(bob.access_token) });
  during.push({ what: "uncached whoami", ms: uncached.ms });
  t.equal(uncached.status, 503, "a session that is not cached cannot be checked: refused, not let through");
  t.same(uncached.body, UNAVAILABLE);
  t.equal(uncached.headers.get("content-type"), "application/json");

  const login = await timed(gw, "/_matrix/client/v3/login", loginBody("alice", "wonderland"));
  during.push({ what: "login", ms: login.ms });
  t.equal(login.status, 503, "login cannot store its session");
  t.same(login.body, UNAVAILABLE);

  const refresh = await timed(gw, "/_matrix/client/v3/refresh", refreshBody(alice.refresh_token));
  during.push({ what: "refresh", ms: refresh.ms });
  t.equal(refresh.status, 503, "refresh cannot rotate");
  t.same(refresh.body, UNAVAILABLE);

  const slowest = during.reduce((a, b) => (b.ms > a.ms ? b : a));
  t.comment(`slowest answer while Redis was down: ${slowest.what}, ${Math.round(slowest.ms)} ms`);
  t.ok(slowest.ms < MAX_REQUEST_MS, `every answer within ${MAX_REQUEST_MS} ms (slowest: ${slowest.what}, ${Math.round(slowest.ms)} ms)`);

  // Back on the same port: the gateway reconnects by itself.
  const restartedAt = Date.now();
  await redis.start();
  let again = await timed(gw, "/_matrix/client/v3/login", loginBody("bob", "builder"));
  while (again.status !== 200 && Date.now() - restartedAt < 5_000) {
    await sleep(100);
    again = await timed(gw, "/_matrix/client/v3/login", loginBody("bob", "builder"));
  }
  t.equal(again.status, 200, "login works again within 5 s of Redis being back");
  t.comment(`login worked again ${Date.now() - restartedAt} ms after Redis was restarted`);
  const whoami = await timed(gw, WHOAMI, { headers: bearer(again.body.access_token) });
  t.equal(whoami.status, 200);
  t.same(whoami.body, { user_id: "@bob:example.org", device_id: again.body.device_id });
  const old = await timed(gw, WHOAMI, { headers: bearer(bob.access_token) });
  t.equal(old.status, 200, "the session that was refused during the outage works again (Redis kept it)");
  const rotated = await timed(gw, "/_matrix/client/v3/refresh", refreshBody(alice.refresh_token));
  t.equal(rotated.status, 200, "the refresh refused during the outage rotated nothing: the token still works");
  t.match(rotated.body, { access_token: String, refresh_token: String, expires_in_ms: 300_000 });
});
