/**
 * Login rate limits (contract "Rate limits"; Synapse's rc_login order): the address limit first (every
 * attempt that parses and names a type, as Synapse counts), the failed-attempts check before the password, the account limit
 * checked before the password but counted on success only. A login the gateway refuses never reaches
 * the homeserver, so a locked account cannot be brute-forced through it.
 */
import t from "tap";
import { createUpstreamLogin } from "../../src/credentials/upstream-login.js";
import { upstreamUnreachable } from "../../src/http/errors.js";
import { createUpstreamClient } from "../../src/upstream/client.js";
import { startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { assertLimited, homeserverLogins, login, loginLimits, rateLimitHeaders, startLimited } from "./limits.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const PROXIED = { yaml: "trusted_proxies: [127.0.0.1]" };

t.test("each login policy refuses its N+1th request with the contract's 429", async (t) => {
  interface Case {
    name: string;
    limits: Record<string, unknown>;
    /** The i-th attempt (0-based); the first `points` ones must pass with `passStatus`. */
    attempt: (i: number) => { user?: string; password?: string; address?: string };
    passStatus: number;
    points: number;
    retryAfterMs: number;
    /** Attempts of alice the homeserver must have seen in the end (the refused one is not among them). */
    homeserverSaw: number;
  }
  const cases: Case[] = [
    {
      name: "per_address: any login attempt from one address",
      limits: { per_address: { points: 3, duration: "1m" } },
      attempt: (i) => ({ user: `nobody${i}` }),
      passStatus: 403,
      points: 3,
      retryAfterMs: MINUTE,
      homeserverSaw: 0,
    },
    {
      name: "per_account: successful logins of one account",
      limits: { per_account: { points: 2, duration: "30m" } },
      attempt: () => ({ password: "wonderland" }),
      passStatus: 200,
      points: 2,
      retryAfterMs: 30 * MINUTE,
      homeserverSaw: 2,
    },
    {
      name: "failed_per_account: failures of one account from anywhere",
      limits: { failed_per_account: { points: 3, duration: "1h" } },
      attempt: (i) => ({ address: `198.51.100.${i + 1}` }),
      passStatus: 403,
      points: 3,
      retryAfterMs: HOUR,
      homeserverSaw: 3,
    },
    {
      name: "failed_per_address_account: failures of one account from one address",
      limits: { failed_per_address_account: { points: 3, duration: "5m" } },
      attempt: () => ({ address: "198.51.100.7" }),
      passStatus: 403,
      points: 3,
      retryAfterMs: 5 * MINUTE,
      homeserverSaw: 3,
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const gw = await startLimited(t, { login: loginLimits(c.limits) }, PROXIED);
      for (let i = 0; i < c.points; i++) {
        const reply = await login(gw, c.attempt(i));
        t.equal(reply.status, c.passStatus, `attempt ${i + 1} passes`);
      }
      // The refused attempt carries the right password: a limit is not a verdict on the password.
      const refused = await login(gw, { ...c.attempt(c.points), password: "wonderland" });
      assertLimited(t, refused, { retryAfterMs: c.retryAfterMs, limit: c.points }, `attempt ${c.points + 1}`);
      t.equal(homeserverLogins(gw), c.homeserverSaw, "the refused attempt never reached the homeserver");
    });
  }
});

t.test("a successful login carries the address limit's RateLimit-* headers", async (t) => {
  const gw = await startLimited(t, { login: loginLimits({ per_address: { points: 3, duration: "1m" } }) });
  const first = await login(gw, { password: "wonderland" });
  t.equal(first.status, 200);
  t.strictSame(rateLimitHeaders(first), { limit: "3", remaining: "2", reset: "60" });
  gw.clock.advance(20 * SECOND);
  const second = await login(gw, { password: "wonderland" });
  t.equal(second.status, 200);
  t.strictSame(rateLimitHeaders(second), { limit: "3", remaining: "1", reset: "40" }, "the window is fixed: its end does not move");
});

t.test("the address limit counts as Synapse's does: after the body parses and names a type", async (t) => {
  const gw = await startLimited(t, { login: loginLimits({ per_address: { points: 2, duration: "1m" } }) });
  // Refused before Synapse's address limit: not counted (issue 18 part 3).
  const notJson = await login(gw, { rawBody: "user=alice&password=wonderland" });
  t.strictSame([notJson.status, notJson.body.errcode], [400, "M_NOT_JSON"]);
  const empty = await login(gw, { rawBody: "{}" });
  t.strictSame(empty.body, { errcode: "M_UNKNOWN", error: "Missing JSON keys." });
  const appservice = await login(gw, { rawBody: JSON.stringify({ type: "m.login.application_service" }) });
  t.strictSame(appservice.body, { errcode: "M_MISSING_TOKEN", error: "Missing access token" });
  // Counted: a malformed password login and an unknown type.
  const noPassword = await login(gw, { rawBody: JSON.stringify({ type: "m.login.password", user: "alice" }) });
  t.strictSame(noPassword.body, { errcode: "M_INVALID_PARAM", error: "Bad parameter: password" });
  const badType = await login(gw, { rawBody: JSON.stringify({ type: "m.login.pasword", user: "alice", password: "wonderland" }) });
  t.strictSame(badType.body, { errcode: "M_UNKNOWN", error: "Bad login type." });
  assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: MINUTE, limit: 2 }, "a good login after two counted ones");
  t.equal(gw.homeserver.logins.length, 0);
});

t.test("the failed-attempts check comes before the password and ignores the spelling of the user", async (t) => {
  const gw = await startLimited(t, { login: loginLimits({ failed_per_account: { points: 3, duration: "1h" } }) }, PROXIED);
  // One account, three spellings (localpart, upper case, full user ID), three addresses.
  for (const [user, address] of [
    ["alice", "192.0.2.1"],
    ["ALICE", "192.0.2.2"],
    ["@alice:example.org", "192.0.2.3"],
  ] as const) {
    t.equal((await login(gw, { user, address })).status, 403, `${user} from ${address}`);
  }
  const locked = await login(gw, { user: "Alice", password: "wonderland", address: "192.0.2.4" });
  assertLimited(t, locked, { retryAfterMs: HOUR, limit: 3 }, "the right password on a locked account");
  t.equal(gw.homeserver.logins.length, 3, "the homeserver saw the three failures and nothing more");
  t.equal(gw.homeserver.tokens.size, 0, "no homeserver session was created");
  // Bob is another account: not locked.
  t.equal((await login(gw, { user: "bob", password: "builder", address: "192.0.2.4" })).status, 200);
});

t.test("the account limit is checked before the password but counted on success only", async (t) => {
  const gw = await startLimited(t, { login: loginLimits({ per_account: { points: 2, duration: "30m" } }) });
  for (let i = 0; i < 3; i++) t.equal((await login(gw)).status, 403, `failure ${i + 1} does not use the account limit`);
  t.equal((await login(gw, { password: "wonderland" })).status, 200);
  t.equal((await login(gw, { password: "wonderland" })).status, 200);
  const before = gw.homeserver.logins.length;
  assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: 30 * MINUTE, limit: 2 }, "third success");
  assertLimited(t, await login(gw, { password: "wrong" }), { retryAfterMs: 30 * MINUTE, limit: 2 }, "a wrong password too");
  t.equal(gw.homeserver.logins.length, before, "refused logins never reached the homeserver");
  t.equal(gw.homeserver.tokens.size, 2, "so they created no homeserver session");
});

t.test("concurrent correct logins cannot pass the account's success limit together", async (t) => {
  const gw = await startLimited(t, { login: loginLimits({ per_account: { points: 2, duration: "30m" } }) });
  // The homeserver answers slowly, so all five are in flight before the first success is known.
  gw.homeserver.setDelay(200);
  const replies = await Promise.all(Array.from({ length: 5 }, () => login(gw, { password: "wonderland" })));
  const statuses = replies.map((reply) => reply.status).sort();
  t.same(statuses, [200, 200, 429, 429, 429], "two successes, the limit; the other three refused");
  t.equal(homeserverLogins(gw), 2, "the refused three never reached the homeserver");
  t.equal(gw.homeserver.tokens.size, 2);
  // A wrong password gives its reserved success back: after the window, one failure and two successes fit.
  gw.clock.advance(30 * MINUTE);
  gw.homeserver.setDelay(0);
  t.equal((await login(gw)).status, 403);
  t.equal((await login(gw, { password: "wonderland" })).status, 200);
  t.equal((await login(gw, { password: "wonderland" })).status, 200, "the failure did not use the limit");
  assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: 30 * MINUTE, limit: 2 }, "third success");
});

t.test("a successful login clears its address's failure counter for the account, not another address's", async (t) => {
  const gw = await startLimited(t, { login: loginLimits({ failed_per_address_account: { points: 3, duration: "5m" } }) }, PROXIED);
  const a = "203.0.113.1";
  const b = "203.0.113.2";
  for (let i = 0; i < 2; i++) t.equal((await login(gw, { address: a })).status, 403);
  for (let i = 0; i < 3; i++) t.equal((await login(gw, { address: b })).status, 403);
  t.equal((await login(gw, { address: a, password: "wonderland" })).status, 200, "third attempt from a succeeds");
  for (let i = 0; i < 3; i++) t.equal((await login(gw, { address: a })).status, 403, `a's counter starts over: failure ${i + 1}`);
  assertLimited(t, await login(gw, { address: a }), { retryAfterMs: 5 * MINUTE, limit: 3 }, "a after three new failures");
  assertLimited(t, await login(gw, { address: b, password: "wonderland" }), { retryAfterMs: 5 * MINUTE, limit: 3 }, "b stays locked");
});

t.test("only the homeserver's 403 counts as a failed attempt", async (t) => {
  // A credentials source that can be switched to "homeserver unreachable" (502): not a verdict on the password.
  const homeserver = await startFakeHomeserver("example.org");
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  const upstreamLogin = createUpstreamLogin(createUpstreamClient(homeserver.url, 2000));
  let down = false;
  const credentials: typeof upstreamLogin = async (request) => {
    if (down) throw upstreamUnreachable();
    return upstreamLogin(request);
  };
  const gw = await startLimited(
    t,
    { login: loginLimits({ failed_per_address_account: { points: 1, duration: "5m" } }) },
    {
      homeserver,
      deps: { credentials },
    },
  );

  const missing = await login(gw, { rawBody: JSON.stringify({ type: "m.login.password", user: "alice" }) });
  t.equal(missing.status, 400, "a missing password is a bad request");
  down = true;
  for (let i = 0; i < 3; i++) {
    const reply = await login(gw);
    t.equal(reply.status, 502, `homeserver down ${i + 1}`);
    t.equal(reply.body.errcode, "M_UNKNOWN");
  }
  down = false;
  t.equal((await login(gw)).status, 403, "the first real failure");
  assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: 5 * MINUTE, limit: 1 }, "after one 403");
});

t.test("block keeps a key blocked past its window", async (t) => {
  t.test("the address limit", async (t) => {
    const gw = await startLimited(t, { login: loginLimits({ per_address: { points: 2, duration: "10s", block: "1m" } }) });
    for (let i = 0; i < 2; i++) t.equal((await login(gw, { user: `nobody${i}` })).status, 403);
    assertLimited(t, await login(gw), { retryAfterMs: MINUTE, limit: 2 }, "exceeded: blocked for a minute");
    gw.clock.advance(10 * SECOND);
    assertLimited(t, await login(gw), { retryAfterMs: 50 * SECOND, limit: 2 }, "the window is over, the block is not");
    gw.clock.advance(50 * SECOND - 1);
    assertLimited(t, await login(gw), { retryAfterMs: 1, limit: 2 }, "one millisecond before the block ends");
    gw.clock.advance(1);
    t.equal((await login(gw, { password: "wonderland" })).status, 200, "the block is over");
  });

  t.test("the failed-attempts limit of an account", async (t) => {
    const gw = await startLimited(t, { login: loginLimits({ failed_per_account: { points: 2, duration: "10s", block: "1m" } }) }, PROXIED);
    for (let i = 0; i < 2; i++) t.equal((await login(gw, { address: `192.0.2.${i + 1}` })).status, 403);
    assertLimited(t, await login(gw, { address: "192.0.2.9" }), { retryAfterMs: MINUTE, limit: 2 }, "locked for a minute");
    gw.clock.advance(10 * SECOND);
    assertLimited(
      t,
      await login(gw, { address: "192.0.2.9", password: "wonderland" }),
      { retryAfterMs: 50 * SECOND, limit: 2 },
      "still locked",
    );
    t.equal(homeserverLogins(gw), 2);
    gw.clock.advance(50 * SECOND);
    t.equal((await login(gw, { address: "192.0.2.9", password: "wonderland" })).status, 200, "unlocked");
  });

  t.test("the success limit of an account", async (t) => {
    const gw = await startLimited(t, { login: loginLimits({ per_account: { points: 1, duration: "10s", block: "1m" } }) });
    t.equal((await login(gw, { password: "wonderland" })).status, 200);
    assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: MINUTE, limit: 1 }, "blocked for a minute");
    gw.clock.advance(10 * SECOND);
    assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: 50 * SECOND, limit: 1 }, "still blocked");
    gw.clock.advance(50 * SECOND);
    t.equal((await login(gw, { password: "wonderland" })).status, 200, "unblocked");
    t.equal(homeserverLogins(gw), 2, "the refused logins never reached the homeserver");
  });
});

t.test("successful logins are not counted as failures of the account", async (t) => {
  // Each attempt is counted as failed before the password is checked (so that concurrent guesses cannot
  // slip past the limit); a success gives that point back.
  const gw = await startLimited(t, { login: loginLimits({ failed_per_account: { points: 2, duration: "1h" } }) });
  for (let i = 0; i < 4; i++) t.equal((await login(gw, { password: "wonderland" })).status, 200, `success ${i + 1}`);
  for (let i = 0; i < 2; i++) t.equal((await login(gw)).status, 403, `failure ${i + 1}`);
  assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: HOUR, limit: 2 }, "after two failures");
});

t.test("a window reopens after its duration", async (t) => {
  t.test("the address limit", async (t) => {
    const gw = await startLimited(t, { login: loginLimits({ per_address: { points: 2, duration: "10s" } }) });
    for (let i = 0; i < 2; i++) t.equal((await login(gw, { user: `nobody${i}` })).status, 403);
    assertLimited(t, await login(gw), { retryAfterMs: 10 * SECOND, limit: 2 }, "exceeded");
    gw.clock.advance(10 * SECOND - 1);
    assertLimited(t, await login(gw), { retryAfterMs: 1, limit: 2 }, "one millisecond before the end (Retry-After rounds up)");
    gw.clock.advance(1);
    const reopened = await login(gw, { password: "wonderland" });
    t.equal(reopened.status, 200);
    t.strictSame(rateLimitHeaders(reopened), { limit: "2", remaining: "1", reset: "10" }, "a new window");
  });

  t.test("the failed-attempts limit of an address and account", async (t) => {
    const gw = await startLimited(t, { login: loginLimits({ failed_per_address_account: { points: 2, duration: "1m" } }) });
    for (let i = 0; i < 2; i++) t.equal((await login(gw)).status, 403);
    gw.clock.advance(30 * SECOND);
    assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: 30 * SECOND, limit: 2 }, "half-way");
    gw.clock.advance(30 * SECOND);
    t.equal((await login(gw, { password: "wonderland" })).status, 200, "the window is over");
  });

  t.test("the success limit of an account", async (t) => {
    const gw = await startLimited(t, { login: loginLimits({ per_account: { points: 1, duration: "30m" } }) });
    t.equal((await login(gw, { password: "wonderland" })).status, 200);
    assertLimited(t, await login(gw, { password: "wonderland" }), { retryAfterMs: 30 * MINUTE, limit: 1 }, "second login");
    gw.clock.advance(30 * MINUTE);
    t.equal((await login(gw, { password: "wonderland" })).status, 200, "the window is over");
  });
});

t.test("brute force: 1,000 wrong passwords from 1,000 addresses reach the homeserver at most failed_per_account's burst", async (t) => {
  // The defaults (failed_per_account: Synapse's rc_login.failed_attempts, 0.17/s burst 3); every attempt from a
  // new address, so the per-address limits never apply. Batches of concurrent attempts, as an attacker sends them.
  const gw = await startLimited(t, {}, PROXIED);
  const points = gw.config.rate_limits.login.failed_per_account.burst_count as number;
  t.equal(points, 3, "the documented default");
  const statuses = new Map<number, number>();
  const BATCH = 25;
  for (let start = 0; start < 1000; start += BATCH) {
    const replies = await Promise.all(
      Array.from({ length: BATCH }, (_, j) => {
        const n = start + j;
        return login(gw, { password: `guess-${n}`, address: `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}` });
      }),
    );
    for (const reply of replies) statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
  }
  t.strictSame(Object.fromEntries(statuses), { 403: points, 429: 1000 - points });
  t.equal(homeserverLogins(gw), points, "the homeserver checked at most failed_per_account.points passwords");

  const owner = await login(gw, { password: "wonderland", address: "192.0.2.200" });
  t.equal(owner.status, 429, "the account stays locked, even for its owner");
  t.equal(owner.body.errcode, "M_LIMIT_EXCEEDED");
  // Synapse's bucket: the next attempt is allowed once one token has come back, 1/0.17 s later.
  gw.clock.advance(Math.ceil(1000 / 0.17));
  t.equal((await login(gw, { password: "wonderland", address: "192.0.2.200" })).status, 200, "one more attempt after ~5.9 s");
  t.equal(homeserverLogins(gw), points + 1);
});
