/**
 * The token endpoint's refusals, end to end over HTTP: a code only works for the client, redirect_uri
 * and PKCE verifier it was issued for, within its lifetime (RFC 6749 §4.1.3, RFC 7636 §4.6); every
 * refusal is an RFC 6749 §5.2 JSON error, never a Matrix errcode. A code that is never exchanged
 * leaves no homeserver session behind.
 */
import t from "tap";
import { postForm, registerLoopbackClient, startOAuthGateway } from "../helpers/oauth-gateway.js";
import { exchangeCode, obtainCode, upstreamTokenOf } from "../helpers/oauth-http-flow.js";

const INVALID_GRANT = { status: 400, body: { error: "invalid_grant" } };

t.test("a wrong code_verifier: 400 invalid_grant, and the homeserver device is not left logged in", async (t) => {
  const gw = await startOAuthGateway(t);
  const grant = await obtainCode(gw, "WRONGVERIFIER");
  t.ok(upstreamTokenOf(gw, "WRONGVERIFIER"), "the login created the device at the homeserver");
  const reply = await exchangeCode(gw, grant, { code_verifier: `${grant.request.verifier.slice(0, -1)}A` });
  t.match(reply, INVALID_GRANT);
  t.equal(reply.headers.get("cache-control"), "no-store");
  t.notOk("errcode" in reply.body, "an OAuth error, not a Matrix one");
  t.notOk(upstreamTokenOf(gw, "WRONGVERIFIER"), "the code is spent and its homeserver session ended");
});

t.test("a verifier that is not 43-128 unreserved characters: 400 invalid_grant", async (t) => {
  const gw = await startOAuthGateway(t);
  const grant = await obtainCode(gw, "SHORTVERIFIER");
  t.match(await exchangeCode(gw, grant, { code_verifier: grant.request.verifier.slice(0, 42) }), INVALID_GRANT);
});

t.test("another client's code, or another redirect_uri: 400 invalid_grant", async (t) => {
  const gw = await startOAuthGateway(t);
  const other = await registerLoopbackClient(gw, { client_name: "Another client" });
  const grant = await obtainCode(gw, "OTHERCLIENT");
  t.match(await exchangeCode(gw, grant, { client_id: other }), INVALID_GRANT, "client_id differs");
  const again = await obtainCode(gw, "OTHERREDIRECT", { clientId: grant.clientId });
  t.match(await exchangeCode(gw, again, { redirect_uri: "http://127.0.0.1:45790/callback" }), INVALID_GRANT, "redirect_uri differs");
});

t.test("an expired code: 400 invalid_grant", async (t) => {
  const gw = await startOAuthGateway(t);
  const grant = await obtainCode(gw, "EXPIREDCODE");
  gw.clock.advance(5 * 60_000 + 1_000); // past oauth.code_ttl (default 5m)
  t.match(await exchangeCode(gw, grant), INVALID_GRANT);
});

t.test("an unknown code, and an unknown grant type", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);
  const unknown = await postForm(gw, "/oauth2/token", {
    grant_type: "authorization_code",
    code: "not-a-code",
    client_id: clientId,
    redirect_uri: "http://127.0.0.1:45789/callback",
    code_verifier: "v".repeat(43),
  });
  t.match(unknown, INVALID_GRANT);
  const password = await postForm(gw, "/oauth2/token", {
    grant_type: "password",
    username: "alice",
    password: "wonderland",
    client_id: clientId,
  });
  t.match(password, { status: 400, body: { error: "unsupported_grant_type" } });
  t.same(gw.homeserver.logins, [], "no homeserver login was attempted");
});
