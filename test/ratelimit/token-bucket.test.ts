/**
 * Issue 18 part 4: limits in Synapse's terms. `{per_second, burst_count}` is Synapse's token bucket: the burst
 * at once, then one more request every 1/per_second seconds (not a whole new window), and a 429 says how long
 * until the next token. Synapse's own `rc_*` blocks are accepted under `rate_limits` as pasted.
 */
import t from "tap";
import { tokenBucketLimiter } from "../../src/ratelimit/token-bucket.js";
import { bearer } from "../helpers/gateway.js";
import { assertLimited, LOOSE, login, startLimited } from "./limits.js";

const SECOND = 1000;

t.test("a bucket: the burst, then one request per 1/per_second, refused ones not counted", async (t) => {
  let now = 1_000_000;
  t.capture(Date, "now", () => now);
  const bucket = tokenBucketLimiter("b", { points: 3, duration: 18_000, perSecond: 0.17 });
  for (let i = 0; i < 3; i++) t.match(await bucket.consume("k"), { allowed: true, remaining: 2 - i });
  const refused = await bucket.consume("k");
  t.match(refused, { allowed: false, remaining: 0, limit: 3 });
  t.equal(refused.resetMs, Math.ceil(1000 / 0.17), "until the next token: ~5.9 s");
  now += 3000;
  t.match(await bucket.consume("k"), { allowed: false }, "half a token is not one");
  now += 2900;
  t.match(await bucket.consume("k"), { allowed: true, remaining: 0 }, "one token back after 1/per_second");
  t.match(await bucket.consume("k"), { allowed: false }, "and only one");
  await bucket.refund("k");
  t.match(await bucket.consume("k"), { allowed: true }, "a refunded token is there again");
  t.match(await bucket.consume("other"), { allowed: true, remaining: 2 }, "keys are separate");
});

t.test("Synapse's v1.79 login defaults: 5 logins from one address, then one every ~5.5 minutes", async (t) => {
  const gw = await startLimited(t, {
    login: { per_account: LOOSE, failed_per_account: LOOSE, failed_per_address_account: LOOSE },
  });
  for (let i = 0; i < 5; i++) t.equal((await login(gw, { user: `nobody${i}` })).status, 403, `login ${i + 1}`);
  const perToken = Math.ceil(1000 / 0.003);
  assertLimited(t, await login(gw, { user: "nobody5" }), { retryAfterMs: perToken, limit: 5 }, "the 6th");
  gw.clock.advance(perToken - SECOND);
  t.equal((await login(gw, { user: "nobody6" })).status, 429, "a second early");
  gw.clock.advance(SECOND);
  t.equal((await login(gw, { user: "nobody7" })).status, 403, "one more after 1/per_second, not a new window");
  t.equal((await login(gw, { user: "nobody8" })).status, 429, "and only one");
});

t.test("rc_message pasted from homeserver.yaml limits sending: burst 10, then one every 5 s", async (t) => {
  const gw = await startLimited(t, { rc_message: { per_second: 0.2, burst_count: 10 }, per_user: LOOSE });
  const { access_token } = await gw.login();
  const send = (n: number) =>
    gw.request(`/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/t${n}`, {
      method: "PUT",
      body: "{}",
      headers: { ...bearer(access_token), "Content-Type": "application/json" },
    });
  for (let i = 0; i < 10; i++) t.equal((await send(i)).status, 200, `message ${i + 1}`);
  assertLimited(t, await send(10), { retryAfterMs: 5 * SECOND, limit: 10 }, "the 11th");
  gw.clock.advance(5 * SECOND);
  t.equal((await send(11)).status, 200, "one more after 5 s");
});

t.test("rc_login.address pasted from homeserver.yaml replaces login.per_address", async (t) => {
  const gw = await startLimited(t, {
    login: { per_address: LOOSE, per_account: LOOSE, failed_per_account: LOOSE, failed_per_address_account: LOOSE },
    rc_login: { address: { per_second: 0.17, burst_count: 3 } },
  });
  for (let i = 0; i < 3; i++) t.equal((await login(gw, { user: `nobody${i}` })).status, 403);
  assertLimited(t, await login(gw, { user: "nobody3" }), { retryAfterMs: Math.ceil(1000 / 0.17), limit: 3 }, "Synapse 1.67's sequence");
});
