/**
 * The authorization endpoint's refusals (RFC 6749 §4.1.2.1): when the client or its redirect_uri
 * cannot be trusted, the user gets an error page and is never redirected (an open redirector
 * otherwise); every other problem goes back to the client's redirect_uri as `error` with the `state`.
 */
import t, { type Test } from "tap";
import { authorizationRequest } from "../helpers/oauth-form-login.js";
import { matrixScope, type OAuthTestGateway, registerLoopbackClient, startOAuthGateway } from "../helpers/oauth-gateway.js";

const REDIRECT_URI = "http://127.0.0.1:45789/callback";
const STABLE = "urn:matrix:client:";
const UNSTABLE = "urn:matrix:org.matrix.msc2967.client:";

async function open(url: string) {
  const response = await fetch(url, { redirect: "manual", headers: { Accept: "text/html" } });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Expects an error page: 4xx HTML, no redirect. */
async function expectErrorPage(t: Test, url: string, what: string) {
  const page = await open(url);
  t.ok(page.status >= 400 && page.status < 500, `${what}: a 4xx page (got ${page.status})`);
  t.equal(page.headers.get("location"), null, `${what}: never a redirect`);
  t.match(page.headers.get("content-type"), /^text\/html/, `${what}: an HTML page for the user`);
  t.notMatch(page.body, /name="password"/, `${what}: no login form`);
}

/** Expects a 303 to the redirect_uri carrying `error` and the state. */
async function expectRedirectError(
  t: Test,
  gw: OAuthTestGateway,
  clientId: string,
  error: string,
  params: Record<string, string | undefined>,
  scope?: string,
) {
  const request = authorizationRequest(gw.issuer, clientId, REDIRECT_URI, scope ?? matrixScope("DEV1"), params);
  const page = await open(request.url);
  t.equal(page.status, 303, `${error}: 303`);
  const location = new URL(page.headers.get("location") ?? "about:blank");
  t.equal(`${location.origin}${location.pathname}`, REDIRECT_URI, `${error}: back to the client`);
  t.equal(location.searchParams.get("error"), error);
  t.equal(location.searchParams.get("state"), request.state, `${error}: with the state`);
  t.notOk(location.searchParams.has("code"));
}

t.test("unknown client or unregistered redirect_uri: an HTML error page, no Location", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);
  const scope = matrixScope("DEV1");
  await expectErrorPage(
    t,
    authorizationRequest(gw.issuer, clientId, "https://evil.example.net/callback", scope).url,
    "redirect_uri on another host",
  );
  await expectErrorPage(
    t,
    authorizationRequest(gw.issuer, clientId, "http://127.0.0.1:45789/elsewhere", scope).url,
    "another loopback path",
  );
  await expectErrorPage(t, authorizationRequest(gw.issuer, "no-such-client", REDIRECT_URI, scope).url, "unknown client_id");
  await expectErrorPage(
    t,
    authorizationRequest(gw.issuer, clientId, REDIRECT_URI, scope, { redirect_uri: undefined }).url,
    "no redirect_uri",
  );
  t.same(gw.homeserver.logins, []);
});

t.test("a missing or doubled device in the scope: 303 with error=invalid_scope", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);
  for (const prefix of [STABLE, UNSTABLE]) {
    await expectRedirectError(t, gw, clientId, "invalid_scope", {}, `openid ${prefix}api:*`);
    await expectRedirectError(t, gw, clientId, "invalid_scope", {}, `openid ${prefix}api:* ${prefix}device:ONE ${prefix}device:TWO`);
  }
  await expectRedirectError(t, gw, clientId, "invalid_scope", {}, `openid ${STABLE}device:ONE`); // no api:*
  await expectRedirectError(t, gw, clientId, "invalid_scope", {}, `${STABLE}api:* ${STABLE}device:bad/device`);
});

t.test("no code_challenge, plain PKCE, another response_type", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);
  await expectRedirectError(t, gw, clientId, "invalid_request", { code_challenge: undefined });
  await expectRedirectError(t, gw, clientId, "invalid_request", { code_challenge_method: "plain" });
  await expectRedirectError(t, gw, clientId, "unsupported_response_type", { response_type: "token" });
});
