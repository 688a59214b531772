/**
 * Revocation (RFC 7009, MSC4254): an access or refresh token ends its whole session and logs the homeserver
 * device out; the answer is `200 {}` whatever the token was. And the sweep of codes never exchanged: their
 * homeserver sessions are logged out.
 */
import t from "tap";
import { CLIENT_ID, codeExchange, type OAuthGateway, startOAuthGateway } from "../helpers/oauth.js";
import { eventually, expectSessionRevoked, whoami } from "../helpers/session-api.js";
import { rateLimitsYaml } from "../ratelimit/limits.js";

async function oauthLogin(gw: OAuthGateway, deviceId = "DEVICE1") {
  const planted = await gw.plantCode({ deviceId });
  const reply = await gw.postForm("/oauth2/token", codeExchange(planted));
  if (reply.status !== 200) throw new Error(`code exchange failed: ${JSON.stringify(reply.body)}`);
  return { ...(reply.body as { access_token: string; refresh_token: string }), upstreamToken: planted.record.upstreamToken };
}

const revoke = (gw: OAuthGateway, fields: Record<string, string>) => gw.postForm("/oauth2/revoke", fields);

t.test("revoking the access token ends the session, both tokens, and the homeserver device", async (t) => {
  const gw = await startOAuthGateway(t);
  const login = await oauthLogin(gw);
  const reply = await revoke(gw, { token: login.access_token, token_type_hint: "access_token", client_id: CLIENT_ID });
  t.equal(reply.status, 200);
  t.same(reply.body, {});
  t.equal(reply.headers.get("access-control-allow-origin"), "*");
  await expectSessionRevoked(t, gw, login.access_token);
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: login.upstreamToken }]);
  const refreshed = await gw.postForm("/oauth2/token", { grant_type: "refresh_token", refresh_token: login.refresh_token });
  t.equal(refreshed.status, 400, "the refresh token died with it");
  const again = await revoke(gw, { token: login.access_token });
  t.same([again.status, again.body], [200, {}], "already revoked: 200 {} all the same");
  t.equal(gw.homeserver.logouts.length, 1, "nothing more logged out");
});

t.test("revoking the refresh token ends the session too", async (t) => {
  const gw = await startOAuthGateway(t);
  const login = await oauthLogin(gw);
  const kept = await oauthLogin(gw, "DEVICE2");
  const reply = await revoke(gw, { token: login.refresh_token, token_type_hint: "refresh_token" });
  t.same([reply.status, reply.body], [200, {}]);
  await expectSessionRevoked(t, gw, login.access_token);
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: login.upstreamToken }]);
  t.equal((await whoami(gw, kept.access_token)).status, 200, "the user's other session is kept");
});

t.test("unknown, malformed, another client's token: 200 {} and nothing ended", async (t) => {
  const gw = await startOAuthGateway(t);
  const login = await oauthLogin(gw);
  const legacy = await gw.login();
  const tokens = [
    "nonsense",
    "mago_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    legacy.refresh_token,
    `${login.access_token.slice(0, -4)}AAAA`,
  ];
  for (const token of tokens) {
    const reply = await revoke(gw, { token });
    t.same([reply.status, reply.body], [200, {}], token.slice(0, 8));
  }
  const otherClient = await revoke(gw, { token: login.access_token, client_id: "someone-else" });
  t.same([otherClient.status, otherClient.body], [200, {}]);
  t.equal((await whoami(gw, login.access_token)).status, 200, "the OAuth session lives on");
  t.equal((await whoami(gw, legacy.access_token)).status, 200, "the legacy session lives on");
  t.same(gw.homeserver.logouts, []);
  const missing = await revoke(gw, {});
  t.equal(missing.status, 400);
  t.same(missing.body, { error: "invalid_request", error_description: "Missing parameter: token" });
});

t.test("revocation attempts count against the address's refresh limit: guessing tokens is slowed (RFC 7009 §5)", async (t) => {
  const loose = { points: 1000, duration: "1h" };
  const gw = await startOAuthGateway(t, {
    rateLimits: rateLimitsYaml({ refresh: { per_address: { points: 3, duration: "1h" }, per_session: loose } }),
  });
  const login = await oauthLogin(gw); // one attempt (the code exchange)
  const first = await revoke(gw, { token: "guess-1" });
  t.equal(first.status, 200);
  t.same(first.body, {});
  t.equal(first.headers.get("ratelimit-limit"), "3");
  t.equal((await revoke(gw, { token: "guess-2" })).status, 200);
  const limited = await revoke(gw, { token: login.refresh_token });
  t.equal(limited.status, 429);
  t.same(limited.body, { error: "temporarily_unavailable", error_description: "Too many requests: try again later" });
  t.match(limited.headers.get("retry-after"), /^\d+$/);
  t.equal((await whoami(gw, login.access_token)).status, 200, "a limited revocation ends nothing");
});

t.test("the sweep logs out the homeserver sessions of codes never exchanged", async (t) => {
  const gw = await startOAuthGateway(t);
  const unused = await gw.plantCode();
  const used = await gw.plantCode({ deviceId: "DEVICE2" });
  t.equal((await gw.postForm("/oauth2/token", codeExchange(used))).status, 200);
  t.equal(await gw.gateway.sweepExpiredCodes(), 0, "nothing expired yet");
  gw.clock.advance(5 * 60_000 + 1);
  t.equal(await gw.gateway.sweepExpiredCodes(), 1, "the unused code only");
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: unused.record.upstreamToken }]);
  t.ok(await eventually(() => gw.logs.some((l) => l.event === "oauth_code_expired")));
  t.equal(await gw.gateway.sweepExpiredCodes(), 0, "swept once");
});
