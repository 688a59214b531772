/**
 * No shared resource that one user can exhaust (security.md "one account (or an ordinary crowd of online
 * users) cannot exhaust a shared resource"): long-polls have a connection pool of their own, so an online
 * population never makes short requests wait; one account's excess concurrency is a prompt 429; and where
 * the operator caps the short-request pool, waiting for a connection is bounded (503).
 */
import http from "node:http";
import t from "tap";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";

const V3 = "/_matrix/client/v3";
/** Rate limits on (the in-flight caps are what is tested), every counted limit loose. */
const LIMITS = `rate_limits: {per_user: {points: 100000, duration: 1h}, public: {per_address: {points: 100000, duration: 1h}}}`;
/** Closing the gateway ends the held long-polls at once instead of draining them. */
const QUICK_CLOSE = "http: {shutdown_timeout: 100ms}";

/** A session of a fresh user, made in the store directly (hundreds of logins would only test the login path). */
async function newSession(gw: TestGateway, localpart: string): Promise<string> {
  const upstreamToken = `syt_${localpart}`;
  const userId = `@${localpart}:example.org`;
  gw.homeserver.tokens.set(upstreamToken, { userId, deviceId: `D${localpart}` });
  const grant = await gw.gateway.sessions.start({ userId, deviceId: `D${localpart}`, upstreamToken, refreshable: false });
  return grant.accessToken;
}

/** A long-poll the homeserver holds for `holdMs`, on a connection of its own; resolves with its status. */
function longPoll(gw: TestGateway, token: string, holdMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(gw.url);
    const req = http.request(
      { host: "127.0.0.1", port, path: `${V3}/sync?since=s1&timeout=${holdMs}`, headers: bearer(token), agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Waits (bounded) until `count` long-polls reached the homeserver. */
async function untilPolling(gw: TestGateway, count: number): Promise<number> {
  const polling = () => gw.homeserver.received.filter((r) => r.url.startsWith(`${V3}/sync`)).length;
  const deadline = Date.now() + 60_000;
  while (polling() < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return polling();
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work;
  return { value, ms: performance.now() - start };
}

t.test("300 users each holding a long-poll: one more user is answered at once", async (t) => {
  const gw = await startGateway(t, { rateLimits: LIMITS, yaml: QUICK_CLOSE });
  const tokens = await Promise.all(Array.from({ length: 300 }, (_, i) => newSession(gw, `user${i}`)));
  const polls = tokens.map((token) => longPoll(gw, token, 15_000));
  t.equal(await untilPolling(gw, 300), 300, "all 300 long-polls are held by the homeserver");

  const other = await newSession(gw, "latecomer");
  const { value: reply, ms } = await timed(gw.request(`${V3}/account/whoami`, { headers: bearer(other) }));
  t.equal(reply.status, 200);
  t.strictSame(reply.body, { user_id: "@latecomer:example.org", device_id: "Dlatecomer" });
  // The polls are held for 15 s: an answer well before that did not wait for a connection.
  t.ok(ms < 5_000, `answered in ${Math.round(ms)} ms, while every long-poll is still held`);
  await gw.gateway.close(); // ends the held polls
  await Promise.allSettled(polls);
});

t.test("one account opening 400 long-polls: the excess is a prompt 429, another user is served at once", async (t) => {
  const gw = await startGateway(t, { rateLimits: LIMITS, yaml: QUICK_CLOSE });
  const greedy = await newSession(gw, "greedy");
  const other = await newSession(gw, "other");
  const statuses: Promise<number>[] = [];
  for (let i = 0; i < 400; i++) statuses.push(longPoll(gw, greedy, 15_000));
  // The refused ones come back at once; the admitted ones stay held.
  const refused = await Promise.race([
    Promise.all(statuses.map((status) => status.then((s) => (s === 429 ? 1 : 0)).catch(() => 0))),
    new Promise<number[]>((resolve) => setTimeout(() => resolve([]), 0)),
  ]);
  t.same(refused, [], "(not all settled at once)");
  t.equal(await untilPolling(gw, 64), 64, "the account's cap (64) of long-polls reached the homeserver");

  const { value: reply, ms } = await timed(gw.request(`${V3}/account/whoami`, { headers: bearer(other) }));
  t.equal(reply.status, 200, "another user is served");
  t.ok(ms < 5_000, `in ${Math.round(ms)} ms`);
  const mine = await gw.request(`${V3}/account/whoami`, { headers: bearer(greedy) });
  t.equal(mine.status, 429, "the greedy account's next request is refused at once");
  t.strictSame(mine.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many concurrent requests", retry_after_ms: 1000 });

  const settled = await Promise.race([
    Promise.all(statuses.slice(0).map((s) => s.catch(() => 0))),
    new Promise<undefined>((resolve) => setTimeout(resolve, 100)),
  ]);
  t.equal(settled, undefined, "the admitted long-polls are still held");
  await gw.gateway.close();
  const all = await Promise.all(statuses.map((s) => s.catch(() => 0)));
  t.equal(all.filter((s) => s === 429).length, 336, "400 - 64 were refused with 429");
  t.equal(gw.homeserver.received.filter((r) => r.url.startsWith(`${V3}/sync`)).length, 64, "the refused ones never reached the homeserver");
});

t.test("a capped short-request pool: waiting for a connection is bounded (503), long-polls are not held up", async (t) => {
  const gw = await startGateway(t, { upstreamYaml: "max_sockets: 2, socket_wait: 500ms" });
  const { access_token } = await gw.login();
  gw.homeserver.setDelay(1_900); // under upstream.timeout (2s): the two requests hold both connections
  const held = [
    gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) }),
    gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) }),
  ];
  for (let i = 0; i < 200 && gw.homeserver.received.filter((r) => r.url.endsWith("/whoami")).length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const { value: third, ms } = await timed(gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) }));
  t.equal(third.status, 503, "the third waits socket_wait, then 503");
  t.strictSame(third.body, { errcode: "M_UNKNOWN", error: "The homeserver connection pool is busy" });
  t.ok(ms >= 450 && ms < 1_800, `after ${Math.round(ms)} ms: about socket_wait, before a connection came free`);
  for (const reply of await Promise.all(held)) t.equal(reply.status, 200, "the held requests were answered");
  // Once a connection came free, the request that gave up waiting was not sent after all.
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(gw.homeserver.received.filter((r) => r.url.endsWith("/whoami")).length, 2, "the refused request never reached the homeserver");

  // A long-poll uses its own pool: the cap on short requests never holds it up.
  gw.homeserver.setDelay(0);
  const shorts = [0, 1].map(() => gw.request(`${V3}/sync?since=x&timeout=0`, { headers: bearer(access_token) }));
  await Promise.all(shorts);
  gw.homeserver.setDelay(1_500);
  const blockers = [0, 1].map(() => gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) }));
  const poll = await gw.request(`${V3}/sync?since=x&timeout=100`, { headers: bearer(access_token) });
  t.equal(poll.status, 200, "a long-poll is served while the short pool is full");
  await Promise.all(blockers);
});
