/**
 * An authorization code is single-use, and a code presented a second time is a sign it leaked: the
 * session it created is revoked (RFC 6749 §4.1.2, "If an authorization code is used more than once,
 * the authorization server MUST deny the request and SHOULD revoke all tokens previously issued
 * based on that authorization code"), and its homeserver device logged out.
 */
import t from "tap";
import { bearer } from "../helpers/gateway.js";
import { startOAuthGateway } from "../helpers/oauth-gateway.js";
import { exchangeCode, obtainCode, refreshGrant, upstreamTokenOf, whoamisAtHomeserver } from "../helpers/oauth-http-flow.js";

const WHOAMI = "/_matrix/client/v3/account/whoami";

t.test("a code used twice: 400 invalid_grant, and the session it created is revoked", async (t) => {
  const gw = await startOAuthGateway(t);
  const grant = await obtainCode(gw, "REUSEDCODE");
  const first = await exchangeCode(gw, grant);
  t.equal(first.status, 200, "the first exchange succeeds");
  const { access_token: accessToken, refresh_token: refreshToken } = first.body;
  t.same((await gw.request(WHOAMI, { headers: bearer(accessToken) })).body, { user_id: "@alice:example.org", device_id: "REUSEDCODE" });
  const upstream = upstreamTokenOf(gw, "REUSEDCODE");
  t.ok(upstream, "the homeserver device is logged in");

  const second = await exchangeCode(gw, grant);
  t.match(second, { status: 400, body: { error: "invalid_grant" } });
  t.notOk("errcode" in second.body, "an OAuth error, not a Matrix one");

  // The refresh first: it never reaches the homeserver, so only the gateway's own revocation can refuse it
  // (a whoami would also fail once the homeserver device is logged out, revoked or not).
  const refresh = await refreshGrant(gw, grant.clientId, refreshToken);
  t.match(refresh, { status: 400, body: { error: "invalid_grant" } }, "the refresh token of the first exchange is dead");
  const reachedHomeserver = whoamisAtHomeserver(gw);
  const whoami = await gw.request(WHOAMI, { headers: bearer(accessToken) });
  t.match(whoami, { status: 401, body: { errcode: "M_UNKNOWN_TOKEN", soft_logout: false } }, "and its access token");
  t.equal(whoamisAtHomeserver(gw), reachedHomeserver, "refused by the gateway itself: no whoami reached the homeserver");
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: upstream }], "the homeserver device was logged out");
  t.notOk(upstreamTokenOf(gw, "REUSEDCODE"));
});

t.test("a code presented again after a failed exchange stays refused", async (t) => {
  const gw = await startOAuthGateway(t);
  const grant = await obtainCode(gw, "SPENTCODE");
  t.match(await exchangeCode(gw, grant, { code_verifier: "x".repeat(43) }), { status: 400, body: { error: "invalid_grant" } });
  t.match(await exchangeCode(gw, grant), { status: 400, body: { error: "invalid_grant" } }, "the code was spent by the failed attempt");
});
