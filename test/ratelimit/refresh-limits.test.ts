/**
 * Refresh rate limits: per client address, and per session (the refresh token's family, so that a
 * stolen token hammered from many addresses is still limited). A refused refresh does not use up the
 * presented token; other sessions are unaffected.
 */
import t from "tap";
import { assertLimited, from, LOOSE, rateLimitHeaders, startLimited } from "./limits.js";

const MINUTE = 60_000;
const PROXIED = { yaml: "trusted_proxies: [127.0.0.1]" };

/** The three refresh endpoints share one set of counters. */
const ENDPOINTS = ["/_matrix/client/v3/refresh", "/_matrix/client/v1/refresh", "/_matrix/client/api/v1/tokenrefresh"];

type Gw = Awaited<ReturnType<typeof startLimited>>;

function refresh(gw: Gw, token: string, { address, endpoint = ENDPOINTS[0] }: { address?: string; endpoint?: string } = {}) {
  return gw.request(endpoint as string, {
    method: "POST",
    body: JSON.stringify({ refresh_token: token }),
    headers: { "Content-Type": "application/json", ...from(address) },
  });
}

t.test("per address: every refresh from one address counts, whatever the token and endpoint", async (t) => {
  const gw = await startLimited(t, { refresh: { per_address: { points: 3, duration: "1m" }, per_session: LOOSE } });
  const { refresh_token } = await gw.login();
  const first = await refresh(gw, refresh_token, { endpoint: ENDPOINTS[0] });
  t.equal(first.status, 200);
  t.strictSame(rateLimitHeaders(first), { limit: "3", remaining: "2", reset: "60" }, "a successful refresh carries RateLimit-*");
  const garbage = await refresh(gw, "not-a-refresh-token", { endpoint: ENDPOINTS[1] });
  t.equal(garbage.status, 401);
  t.equal(garbage.body.errcode, "M_UNKNOWN_TOKEN");
  const seed = await refresh(gw, first.body.refresh_token, { endpoint: ENDPOINTS[2] });
  t.equal(seed.status, 200, "the seed endpoint");
  for (const endpoint of ENDPOINTS) {
    assertLimited(t, await refresh(gw, seed.body.refresh_token, { endpoint }), { retryAfterMs: MINUTE, limit: 3 }, endpoint);
  }
  gw.clock.advance(MINUTE);
  t.equal((await refresh(gw, seed.body.refresh_token)).status, 200, "the refused refreshes did not use the token up");
});

t.test("per session: one session's refreshes are limited from any address; another session is not", async (t) => {
  const gw = await startLimited(t, { refresh: { per_address: LOOSE, per_session: { points: 3, duration: "1m" } } }, PROXIED);
  const a = await gw.login();
  const b = await gw.login();

  let token = a.refresh_token as string;
  for (let i = 0; i < 3; i++) {
    const reply = await refresh(gw, token, { address: `198.51.100.${i + 1}` });
    t.equal(reply.status, 200, `refresh ${i + 1} of session a`);
    t.equal(reply.headers.get("ratelimit-remaining"), String(2 - i), "the session's limit is the tighter one");
    token = reply.body.refresh_token;
  }
  for (const address of ["198.51.100.4", "203.0.113.9"]) {
    assertLimited(t, await refresh(gw, token, { address }), { retryAfterMs: MINUTE, limit: 3 }, `session a from ${address}`);
  }
  // Hammering the same (current) token from yet more addresses changes nothing.
  for (let i = 0; i < 5; i++) t.equal((await refresh(gw, token, { address: `192.0.2.${i + 1}` })).status, 429);

  const other = await refresh(gw, b.refresh_token, { address: "198.51.100.4" });
  t.equal(other.status, 200, "session b is unaffected");
  t.strictSame(rateLimitHeaders(other), { limit: "3", remaining: "2", reset: "60" });

  gw.clock.advance(MINUTE);
  const reopened = await refresh(gw, token, { address: "198.51.100.5" });
  t.equal(reopened.status, 200, "the window reopens and the held-back token still works");
  t.type(reopened.body.refresh_token, "string");
});
