/**
 * The two APIs' refresh tokens do not cross: an OAuth refresh token is refused by the Matrix
 * `/refresh` endpoint and a legacy (`/login`) one by the OAuth token endpoint, each without effect on
 * its session — a client that sends its token to the wrong API must not lose it, nor rotate it.
 */
import t from "tap";
import { bearer } from "../helpers/gateway.js";
import { registerLoopbackClient, startOAuthGateway } from "../helpers/oauth-gateway.js";
import { loginOverHttp, refreshGrant } from "../helpers/oauth-http-flow.js";

const WHOAMI = "/_matrix/client/v3/account/whoami";
const json = (body: unknown) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

t.test("an OAuth refresh token at /_matrix/client/v3/refresh is refused, and still works at the token endpoint", async (t) => {
  const gw = await startOAuthGateway(t);
  const { grant, tokens } = await loginOverHttp(gw, "OAUTHKIND");
  for (const path of ["/_matrix/client/v3/refresh", "/_matrix/client/v1/refresh"]) {
    const reply = await gw.request(path, json({ refresh_token: tokens.refresh_token }));
    t.match(reply, { status: 401, body: { errcode: "M_UNKNOWN_TOKEN" } }, `${path} refuses it`);
  }
  t.same((await gw.request(WHOAMI, { headers: bearer(tokens.access_token) })).body, {
    user_id: "@alice:example.org",
    device_id: "OAUTHKIND",
  });
  const refreshed = await refreshGrant(gw, grant.clientId, tokens.refresh_token);
  t.match(
    refreshed,
    { status: 200, body: { access_token: String, refresh_token: String, token_type: "Bearer" } },
    "unspent by the refusal",
  );
  t.same(gw.homeserver.logouts, [], "the homeserver device was never logged out");
});

t.test("a legacy refresh token at the token endpoint is refused, and still works at /refresh", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);
  const legacy = await gw.login();
  const reply = await refreshGrant(gw, clientId, legacy.refresh_token);
  t.match(reply, { status: 400, body: { error: "invalid_grant" } });
  t.notOk("errcode" in reply.body, "an OAuth error, not a Matrix one");
  const refreshed = await gw.request("/_matrix/client/v3/refresh", json({ refresh_token: legacy.refresh_token }));
  t.match(refreshed, { status: 200, body: { access_token: String, refresh_token: String } }, "unspent by the refusal");
  t.same(gw.homeserver.logouts, []);
});
