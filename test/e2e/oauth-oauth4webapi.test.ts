/**
 * A strict, general-purpose OAuth 2.0 / OpenID Connect client — oauth4webapi 3, which checks every
 * response against its RFC — against the gateway: both discovery documents with the issuer check
 * (RFC 8414 §3.3, OIDC Discovery §4.3), dynamic registration of a native app with a private-use URI
 * scheme (RFC 7591, RFC 8252 §7.1), the authorization response (state, and `iss` if sent: RFC 9207),
 * the code grant with PKCE and the ID token validated (claims, nonce, and its signature against
 * jwks_uri), the refresh grant, and revocation by refresh token (RFC 7009) ending the session.
 *
 * The login itself is plain HTTP form posts (test/helpers/oauth-form-login.ts), no browser.
 * `allowInsecureRequests` only lifts oauth4webapi's https requirement for this loopback gateway.
 */
import * as oauth from "oauth4webapi";
import t from "tap";
import { bearer } from "../helpers/gateway.js";
import { authorizeWithForms } from "../helpers/oauth-form-login.js";
import { startOAuthGateway } from "../helpers/oauth-gateway.js";
import { whoamisAtHomeserver } from "../helpers/oauth-http-flow.js";

const LOOPBACK_HTTP = { [oauth.allowInsecureRequests]: true } as const;
const DEVICE = "O4WEBAPIDEV";
const SCOPE = `openid urn:matrix:client:api:* urn:matrix:client:device:${DEVICE}`;
const ALICE = "@alice:example.org";
const WHOAMI = "/_matrix/client/v3/account/whoami";
/** Reverse DNS of client_uri's host (MSC2966; RFC 8252 §7.1), without an authority. */
const REDIRECT_URI = "com.example.client:/oauth/callback";

t.test("oauth4webapi: discovery, registration, code grant with ID token, refresh, revocation", { timeout: 60_000 }, async (t) => {
  const gw = await startOAuthGateway(t);
  const issuer = new URL(gw.issuer);

  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oidc", ...LOOPBACK_HTTP }));
  const rfc8414 = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...LOOPBACK_HTTP }),
  );
  t.same(rfc8414, as, "the OIDC and RFC 8414 documents agree");
  t.equal(as.issuer, gw.issuer);
  const matrixDiscovery = await gw.request("/_matrix/client/v1/auth_metadata");
  t.same(matrixDiscovery.body, as, "and so does Matrix discovery");

  const registration = await oauth.dynamicClientRegistrationRequest(
    as,
    {
      client_name: "oauth4webapi test",
      client_uri: "https://client.example.com/",
      application_type: "native",
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
    LOOPBACK_HTTP,
  );
  const client: oauth.Client = await oauth.processDynamicClientRegistrationResponse(registration);
  t.match(client, { client_id: String, redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" });

  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const authorizationUrl = new URL(as.authorization_endpoint ?? "");
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  })) {
    authorizationUrl.searchParams.set(name, value);
  }

  const { location } = await authorizeWithForms(authorizationUrl.href);
  t.equal(`${location.protocol}${location.pathname}`, REDIRECT_URI, "redirected to the private-use URI");
  const callback = oauth.validateAuthResponse(as, client, location, state);

  const codeResponse = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callback, REDIRECT_URI, verifier, LOOPBACK_HTTP);
  t.equal(codeResponse.headers.get("cache-control"), "no-store", "token answers are not cached (RFC 6749 §5.1)");
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, codeResponse, { expectedNonce: nonce, requireIdToken: true });
  await oauth.validateApplicationLevelSignature(as, codeResponse, LOOPBACK_HTTP);
  t.match(tokens, { token_type: "bearer", access_token: String, refresh_token: String, expires_in: 300, scope: SCOPE });
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  t.match(claims, { iss: gw.issuer, aud: client.client_id, nonce, sub: String, iat: Number, exp: Number });

  const whoami = await gw.request(WHOAMI, { headers: bearer(tokens.access_token) });
  t.same(whoami, { status: 200, headers: whoami.headers, body: { user_id: ALICE, device_id: DEVICE } });

  const refreshResponse = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token ?? "", LOOPBACK_HTTP);
  const refreshed = await oauth.processRefreshTokenResponse(as, client, refreshResponse);
  t.match(refreshed, { token_type: "bearer", access_token: String, refresh_token: String, expires_in: 300 });
  t.not(refreshed.refresh_token, tokens.refresh_token, "the refresh token rotated");
  const afterRefresh = await gw.request(WHOAMI, { headers: bearer(refreshed.access_token) });
  t.same(afterRefresh.body, { user_id: ALICE, device_id: DEVICE });

  let upstream: string | undefined;
  for (const [token, device] of gw.homeserver.tokens) if (device.deviceId === DEVICE) upstream = token;
  const revocation = await oauth.revocationRequest(as, client, oauth.None(), refreshed.refresh_token ?? "", {
    additionalParameters: { token_type_hint: "refresh_token" },
    ...LOOPBACK_HTTP,
  });
  t.equal(await oauth.processRevocationResponse(revocation), undefined, "revocation answered 200");
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: upstream }], "the homeserver device was logged out");
  const reachedHomeserver = whoamisAtHomeserver(gw);
  const revoked = await gw.request(WHOAMI, { headers: bearer(refreshed.access_token) });
  t.match(revoked, { status: 401, body: { errcode: "M_UNKNOWN_TOKEN", soft_logout: false } }, "the access token died with the session");
  t.equal(whoamisAtHomeserver(gw), reachedHomeserver, "refused by the gateway itself: no whoami reached the homeserver");
  const deadRefresh = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token ?? "", LOOPBACK_HTTP);
  const refused = await oauth.processRefreshTokenResponse(as, client, deadRefresh).catch((error: unknown) => error);
  t.ok(refused instanceof oauth.ResponseBodyError, "and so did the refresh token");
  t.match(refused, { status: 400, error: "invalid_grant" });

  // Secrets never in the gateway's log: the code, the tokens, the ID token, the password.
  const logged = JSON.stringify(gw.logs);
  const secrets = [
    callback.get("code") ?? "",
    tokens.access_token,
    tokens.refresh_token ?? "",
    tokens.id_token ?? "",
    refreshed.access_token,
  ];
  for (const secret of [...secrets, refreshed.refresh_token ?? "", "wonderland"].filter((s) => s.length > 0)) {
    t.notOk(logged.includes(secret), "a secret of the flow is not in the gateway's log");
  }
});
