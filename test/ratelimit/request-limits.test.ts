/**
 * Limits on proxied requests: registration and other public endpoints per client address,
 * authenticated requests per user (all of the user's sessions together) and per route class (built-in
 * `send` and `join`, operator classes, overridden built-ins), exempt users, `RateLimit-*` headers on
 * proxied answers, `enabled: false`, and the cap on requests in flight per address.
 */
import t from "tap";
import { bearer } from "../helpers/gateway.js";
import { assertLimited, from, LOOSE, rateLimitHeaders, startLimited } from "./limits.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const PROXIED = { yaml: "trusted_proxies: [127.0.0.1]" };
const ROOM = "!r:example.org";

type Gw = Awaited<ReturnType<typeof startLimited>>;

/** Only the limit under test is tight; everything else that a test touches is loose. */
function limits(block: Record<string, unknown>) {
  return { registration: { per_address: LOOSE }, public: { per_address: LOOSE }, per_user: LOOSE, ...block };
}

const get = (gw: Gw, path: string, headers: Record<string, string> = {}) => gw.request(path, { headers });
const send = (gw: Gw, token: string, txn: string | number) =>
  gw.request(`/_matrix/client/v3/rooms/${ROOM}/send/m.room.message/txn${txn}`, {
    method: "PUT",
    body: JSON.stringify({ msgtype: "m.text", body: "hi" }),
    headers: { ...bearer(token), "Content-Type": "application/json" },
  });
const whoami = (gw: Gw, token: string) => get(gw, "/_matrix/client/v3/account/whoami", bearer(token));
const register = (gw: Gw, prefix = "/_matrix/client/v3", address?: string) =>
  gw.request(`${prefix}/register`, {
    method: "POST",
    body: JSON.stringify({ username: "carol", password: "secret", auth: { type: "m.login.dummy" } }),
    headers: { "Content-Type": "application/json", ...from(address) },
  });

t.test("registration: per address, on every API generation, apart from other public endpoints", async (t) => {
  const gw = await startLimited(t, limits({ registration: { per_address: { points: 2, duration: "1m" } } }), PROXIED);
  const first = await register(gw, "/_matrix/client/v3");
  // The fake homeserver does not register anyone: what matters is that the request reached it.
  t.equal(first.status, 401, "forwarded: the homeserver's own answer");
  t.strictSame(rateLimitHeaders(first), { limit: "2", remaining: "1", reset: "60" }, "RateLimit-* on the proxied answer");
  t.equal((await register(gw, "/_matrix/client/r0")).status, 401);
  const forwarded = gw.homeserver.received.length;
  assertLimited(t, await register(gw, "/_matrix/client/api/v1"), { retryAfterMs: MINUTE, limit: 2 }, "third registration");
  assertLimited(t, await register(gw, "/_matrix/client/v3"), { retryAfterMs: MINUTE, limit: 2 }, "fourth registration");
  assertLimited(t, await register(gw, "/_matrix/client/unstable"), { retryAfterMs: MINUTE, limit: 2 }, "the unstable spelling too");
  t.equal(gw.homeserver.received.length, forwarded, "refused registrations never reach the homeserver");
  t.equal((await register(gw, "/_matrix/client/v3", "198.51.100.1")).status, 401, "another address may register");
  t.equal((await get(gw, "/_matrix/client/versions")).status, 200, "other public endpoints have their own limit");
  gw.clock.advance(MINUTE);
  t.equal((await register(gw)).status, 401, "the window reopens");
});

t.test("other public endpoints: per address", async (t) => {
  const gw = await startLimited(t, limits({ public: { per_address: { points: 3, duration: "1m" } } }), PROXIED);
  const versions = await get(gw, "/_matrix/client/versions");
  t.equal(versions.status, 200);
  t.strictSame(rateLimitHeaders(versions), { limit: "3", remaining: "2", reset: "60" });
  t.equal((await get(gw, "/_matrix/client/v3/publicRooms")).status, 200);
  t.equal((await get(gw, "/_matrix/client/v3/profile/@bob:example.org")).status, 200);
  assertLimited(t, await get(gw, "/.well-known/matrix/client"), { retryAfterMs: MINUTE, limit: 3 }, "fourth public request");
  t.equal((await get(gw, "/_matrix/client/versions", from("198.51.100.1"))).status, 200, "another address is not limited");
  // A request with a token is the user's, not the address's.
  const { access_token } = await gw.login();
  t.equal((await get(gw, "/_matrix/client/versions", bearer(access_token))).status, 200, "with a token: the per-user limit");
});

t.test("authenticated: per user, across all of the user's sessions", async (t) => {
  const gw = await startLimited(t, limits({ per_user: { points: 3, duration: "1m" } }));
  const a = await gw.login();
  const b = await gw.login();
  const first = await whoami(gw, a.access_token);
  t.equal(first.status, 200);
  t.strictSame(rateLimitHeaders(first), { limit: "3", remaining: "2", reset: "60" }, "RateLimit-* on the proxied answer");
  t.equal((await whoami(gw, a.access_token)).status, 200);
  t.equal((await whoami(gw, b.access_token)).status, 200, "the second session shares the user's limit");
  assertLimited(t, await whoami(gw, b.access_token), { retryAfterMs: MINUTE, limit: 3 }, "fourth request of alice");
  assertLimited(t, await whoami(gw, a.access_token), { retryAfterMs: MINUTE, limit: 3 }, "from the first session too");
  const bob = await gw.login({ user: "bob", password: "builder" });
  t.equal((await whoami(gw, bob.access_token)).status, 200, "bob is another user");
  gw.clock.advance(MINUTE);
  t.equal((await whoami(gw, a.access_token)).status, 200, "the window reopens");
});

t.test("built-in route classes with their documented defaults", async (t) => {
  const cases = [
    {
      // Synapse's rc_message: a bucket of 10, one more every 5 s (issue 18 part 4).
      name: "send: 0.2/s burst 10",
      request: (gw: Gw, token: string, i: number) => send(gw, token, i),
      points: 10,
      retryAfterMs: 5 * SECOND,
    },
    {
      // Synapse's rc_joins.local: a bucket of 10, one more every 10 s.
      name: "join: 0.1/s burst 10, both join endpoints",
      request: (gw: Gw, token: string, i: number) =>
        gw.request(i % 2 ? `/_matrix/client/v3/join/${ROOM}` : `/_matrix/client/r0/rooms/${ROOM}/join`, {
          method: "POST",
          body: "{}",
          headers: { ...bearer(token), "Content-Type": "application/json" },
        }),
      points: 10,
      retryAfterMs: 10 * SECOND,
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const gw = await startLimited(t, limits({}));
      const { access_token } = await gw.login();
      const first = await c.request(gw, access_token, 0);
      t.equal(first.status, 200);
      t.match(first.body, { echo: { user_id: "@alice:example.org" } }, "proxied");
      t.strictSame(
        rateLimitHeaders(first),
        { limit: String(c.points), remaining: String(c.points - 1), reset: String(c.retryAfterMs / SECOND) },
        "the class is the tighter limit",
      );
      for (let i = 1; i < c.points; i++) t.equal((await c.request(gw, access_token, i)).status, 200, `request ${i + 1}`);
      assertLimited(t, await c.request(gw, access_token, c.points), { retryAfterMs: c.retryAfterMs, limit: c.points }, "over the class");
      const other = await whoami(gw, access_token);
      t.equal(other.status, 200, "routes outside the class still pass");
      t.equal(other.headers.get("ratelimit-limit"), String(LOOSE.points), "with the per-user limit's headers");
    });
  }
});

t.test("an operator's route class from the YAML", async (t) => {
  const typing = { match: ["PUT /_matrix/client/v3/rooms/*/typing/*"], points: 2, duration: "10s" };
  const gw = await startLimited(t, limits({ routes: { typing } }));
  const { access_token } = await gw.login();
  const type = () =>
    gw.request(`/_matrix/client/v3/rooms/${ROOM}/typing/@alice:example.org`, {
      method: "PUT",
      body: JSON.stringify({ typing: true, timeout: 30000 }),
      headers: { ...bearer(access_token), "Content-Type": "application/json" },
    });
  t.equal((await type()).status, 200);
  t.equal((await type()).status, 200);
  assertLimited(t, await type(), { retryAfterMs: 10 * SECOND, limit: 2 }, "third typing notice");
  t.equal((await send(gw, access_token, 1)).status, 200, "sending is another class");
  gw.clock.advance(10 * SECOND);
  t.equal((await type()).status, 200, "the window reopens");
});

t.test("a built-in class overridden without `match` keeps its patterns", async (t) => {
  const gw = await startLimited(t, limits({ routes: { send: { points: 2, duration: "10s" } } }));
  t.strictSame(gw.config.rate_limits.routes.send?.match, ["PUT /_matrix/client/{api/v1,r0,v3}/rooms/*/send/**"]);
  const { access_token } = await gw.login();
  t.equal((await send(gw, access_token, 1)).status, 200);
  t.equal((await send(gw, access_token, 2)).status, 200);
  assertLimited(t, await send(gw, access_token, 3), { retryAfterMs: 10 * SECOND, limit: 2 }, "third send");
});

t.test("exempt users are never limited on authenticated routes", async (t) => {
  const gw = await startLimited(
    t,
    limits({
      per_user: { points: 1, duration: "1m" },
      routes: { send: { points: 1, duration: "1m" } },
      exempt_users: ["@alice:example.org"],
    }),
  );
  const alice = await gw.login();
  for (let i = 0; i < 5; i++) {
    const reply = await send(gw, alice.access_token, i);
    t.equal(reply.status, 200, `alice's send ${i + 1}`);
    t.strictSame(rateLimitHeaders(reply), { limit: null, remaining: null, reset: null }, "no limit, no RateLimit-* headers");
    t.equal((await whoami(gw, alice.access_token)).status, 200, `alice's whoami ${i + 1}`);
  }
  const bob = await gw.login({ user: "bob", password: "builder" });
  t.equal((await whoami(gw, bob.access_token)).status, 200);
  assertLimited(t, await whoami(gw, bob.access_token), { retryAfterMs: MINUTE, limit: 1 }, "bob is not exempt");
});

/**
 * Starts a long-poll the fake homeserver holds for 1.5 s and waits until it has reached the homeserver;
 * `done` is its answer (wrapped: awaiting this function must not wait for the poll to end).
 */
async function longPoll(gw: Gw, token: string, signal?: AbortSignal): Promise<{ done: ReturnType<Gw["request"]> }> {
  const before = gw.homeserver.received.filter((r) => r.url.includes("/sync")).length;
  const reply = gw.request("/_matrix/client/v3/sync?since=x&timeout=1500", { headers: bearer(token), signal: signal ?? null });
  reply.catch(() => {}); // an aborted poll rejects; the test looks at it only when it was not aborted
  // Waiting for an event (the request arriving), not for a window: bounded, never a fixed sleep for expiry.
  for (let i = 0; i < 200 && gw.homeserver.received.filter((r) => r.url.includes("/sync")).length === before; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { done: reply };
}

t.test("in-flight cap: concurrent authenticated requests per user", async (t) => {
  const gw = await startLimited(t, { ...limits({}), max_in_flight_per_user: 2, max_in_flight_per_address: 2 }, PROXIED);
  const { access_token } = await gw.login();
  const polls = [await longPoll(gw, access_token), await longPoll(gw, access_token)];
  t.equal(gw.homeserver.received.filter((r) => r.url.includes("/sync")).length, 2, "both long-polls are in flight");

  const third = await whoami(gw, access_token);
  t.equal(third.status, 429);
  t.strictSame(third.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many concurrent requests", retry_after_ms: 1000 });
  t.equal(third.headers.get("retry-after"), "1");
  const fromElsewhere = await get(gw, "/_matrix/client/v3/account/whoami", { ...bearer(access_token), ...from("198.51.100.1") });
  t.equal(fromElsewhere.status, 429, "the same user from another address shares the cap");
  const bob = await gw.login({ user: "bob", password: "builder" });
  t.equal((await whoami(gw, bob.access_token)).status, 200, "another user from the same address is not affected");
  const login = await gw.request("/_matrix/client/v3/login", { method: "POST", body: "{}" });
  t.equal(login.status, 400, "requests without a token count against the address, which has room");

  for (const poll of await Promise.all(polls.map((p) => p.done))) t.equal(poll.status, 200, "the long-polls were not cut short");
  t.equal((await whoami(gw, access_token)).status, 200, "once they finished, requests pass again");
  t.equal((await whoami(gw, access_token)).status, 200);
});

t.test("in-flight cap: concurrent requests without a token per address", async (t) => {
  const gw = await startLimited(t, { ...limits({}), max_in_flight_per_address: 2 }, PROXIED);
  const { access_token } = await gw.login();
  gw.homeserver.setDelay(1500);
  const held = [gw.request("/_matrix/client/versions"), gw.request("/_matrix/client/versions")];
  // Waiting for the event (both reached the homeserver), bounded: never a fixed sleep.
  for (let i = 0; i < 200 && gw.homeserver.received.filter((r) => r.url === "/_matrix/client/versions").length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const third = await gw.request("/_matrix/client/versions");
  t.equal(third.status, 429, "a third public request from the address");
  t.strictSame(third.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many concurrent requests", retry_after_ms: 1000 });
  const login = await gw.request("/_matrix/client/v3/login", { method: "POST", body: "{}" });
  t.equal(login.status, 429, "the gateway's own endpoints count too");
  const elsewhere = await get(gw, "/_matrix/client/versions", from("198.51.100.1"));
  t.equal(elsewhere.status, 200, "another address is not affected");
  gw.homeserver.setDelay(0);
  t.equal((await whoami(gw, access_token)).status, 200, "an authenticated request counts against its user, not the address");
  for (const reply of await Promise.all(held)) t.equal(reply.status, 200);
  t.equal((await gw.request("/_matrix/client/versions")).status, 200, "once they finished, requests pass again");
});

t.test("in-flight cap: a request the client abandons frees its slot", async (t) => {
  const gw = await startLimited(t, { ...limits({}), max_in_flight_per_user: 1 });
  const { access_token } = await gw.login();
  const abort = new AbortController();
  await longPoll(gw, access_token, abort.signal);
  t.equal((await whoami(gw, access_token)).status, 429, "the slot is taken");
  abort.abort();
  // The gateway sees the disconnect asynchronously: wait (bounded) for the slot to come back.
  let status = 429;
  for (let i = 0; i < 100 && status === 429; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    status = (await whoami(gw, access_token)).status;
  }
  t.equal(status, 200, "the abandoned long-poll no longer counts");
});

t.test("enabled: false turns every limit off", async (t) => {
  const tight = { points: 1, duration: "1h" };
  const gw = await startLimited(t, {
    enabled: false,
    max_in_flight_per_address: 1,
    login: { per_address: tight, per_account: tight, failed_per_account: tight, failed_per_address_account: tight },
    refresh: { per_address: tight, per_session: tight },
    registration: { per_address: tight },
    public: { per_address: tight },
    per_user: tight,
    routes: { send: tight },
  });
  const replies = [];
  for (let i = 0; i < 3; i++) {
    replies.push(
      await gw.request("/_matrix/client/v3/login", {
        method: "POST",
        body: JSON.stringify({ type: "m.login.password", user: "alice", password: "wrong" }),
      }),
    );
  }
  const sessions = [await gw.login(), await gw.login()];
  let refreshToken = sessions[0].refresh_token;
  for (let i = 0; i < 3; i++) {
    const reply = await gw.request("/_matrix/client/v3/refresh", { method: "POST", body: JSON.stringify({ refresh_token: refreshToken }) });
    replies.push(reply);
    refreshToken = reply.body.refresh_token;
  }
  const token = sessions[1].access_token;
  for (let i = 0; i < 3; i++) {
    replies.push(await register(gw), await get(gw, "/_matrix/client/versions"), await whoami(gw, token), await send(gw, token, i));
  }
  // Two concurrent requests from one address, with max_in_flight_per_address: 1.
  const poll = await longPoll(gw, token);
  replies.push(await whoami(gw, token), await poll.done);

  t.strictSame(
    replies.map((r) => r.status),
    [403, 403, 403, 200, 200, 200, ...[0, 1, 2].flatMap(() => [401, 200, 200, 200]), 200, 200],
  );
  t.strictSame(
    replies.filter((r) => r.headers.get("ratelimit-limit") !== null || r.headers.get("retry-after") !== null).length,
    0,
    "no RateLimit-* or Retry-After header anywhere",
  );
});
