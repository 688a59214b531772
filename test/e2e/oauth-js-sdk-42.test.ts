/**
 * The same login with matrix-js-sdk 42, whose OAuth 2.0 code (`OAuth2`, `TokenRefresher`) replaced
 * the OIDC helpers of 37: it reads the stable `/_matrix/client/v1/auth_metadata` when the homeserver's
 * `/versions` lists v1.15, asks for the stable scope prefix without `openid` (no ID token), and by
 * default wants the authorization response in the URL fragment, which only the browser sees.
 *
 * The homeserver here (the fake one behind the gateway) advertises v1.15 in `/versions`, as Synapse
 * does since 1.130 — the gateway forwards `/versions` untouched.
 */
import {
  ClientPrefix,
  createClient,
  type ICreateClientOpts,
  type MatrixClient,
  MatrixError,
  OAuth2,
  OAuth2HTTPError,
  TokenRefresher,
  TokenRefreshLogoutError,
} from "matrix-js-sdk";
import { logger as rootLogger } from "matrix-js-sdk/lib/logger.js";
import t, { type Test } from "tap";
import { BROWSER_WAIT_MS, hasChromium, launchChromium, NO_CHROMIUM } from "../helpers/chromium.js";
import { recordGatewayRequests } from "../helpers/gateway-requests.js";
import { authorizeInBrowser } from "../helpers/oauth-browser-login.js";
import { type OAuthTestGateway, startOAuthGateway } from "../helpers/oauth-gateway.js";
import { deviceLoggedOut, upstreamTokenOf, whoamisAtHomeserver } from "../helpers/oauth-http-flow.js";
import { startRedirectCatcher } from "../helpers/redirect-catcher.js";

const ACCESS_TTL_MS = 5 * 60_000; // startGateway's default tokens.access_ttl
const ALICE = "@alice:example.org";
const DEVICE = "JSSDK42DEVICE";

type Logger = NonNullable<ICreateClientOpts["logger"]>;
/** The SDK's root logger reports each OAuth error body it inspects ("Missing or invalid property: errcode"). */
(rootLogger as unknown as { setLevel(level: string): void }).setLevel("silent");
const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, getChild: () => silent };

function client(t: Test, gw: OAuthTestGateway, opts: Omit<ICreateClientOpts, "baseUrl"> = {}): MatrixClient {
  const c = createClient({ baseUrl: gw.url, logger: silent, localTimeoutMs: 10_000, ...opts });
  t.teardown(() => {
    c.stopClient();
    c.http.abort();
  });
  return c;
}

if (!hasChromium()) {
  t.plan(0, NO_CHROMIUM);
} else {
  t.test(
    "matrix-js-sdk 42: stable discovery, registration, browser login (fragment), code grant, refresh, revocation",
    { timeout: 4 * BROWSER_WAIT_MS },
    async (t) => {
      const gw = await startOAuthGateway(t);
      gw.homeserver.setCannedAnswer("/_matrix/client/versions", { status: 200, body: JSON.stringify({ versions: ["v1.11", "v1.15"] }) });
      const seen = recordGatewayRequests(gw);
      const catcher = await startRedirectCatcher(t);

      const metadata = await client(t, gw).getAuthMetadata();
      t.equal(metadata.issuer, gw.issuer, "the issuer is public_baseurl");
      t.match(
        seen.filter((s) => s.path.includes("auth_metadata")),
        [{ method: "GET", path: `${ClientPrefix.V1}/auth_metadata`, status: 200 }],
        "42 reads the stable discovery path when /versions lists v1.15",
      );

      const clientId = await OAuth2.registerClient(
        metadata,
        {
          client_name: "matrix-js-sdk 42 test",
          client_uri: "https://element.example.org/",
          application_type: "native",
          redirect_uris: ["http://127.0.0.1/callback"],
        },
        silent,
      );
      t.type(clientId, "string", "dynamic registration gave a client_id");

      const oauth = new OAuth2(metadata, { clientId, redirectUri: catcher.redirectUri, deviceId: DEVICE }, silent);
      const state = "state-of-the-42-test";
      const authorizationUrl = await oauth.generateAuthorizationCodeGrantUrl(state);
      const requested = new URL(authorizationUrl);
      t.match(Object.fromEntries(requested.searchParams), {
        response_mode: "fragment",
        scope: `urn:matrix:client:api:* urn:matrix:client:device:${DEVICE}`,
        code_challenge_method: "S256",
      });

      const browser = await launchChromium(t);
      const { landed } = await authorizeInBrowser(browser, authorizationUrl, catcher.redirectUri);
      const answer = new URLSearchParams(landed.hash.slice(1));
      t.equal(landed.search, "", "response_mode=fragment: nothing in the query");
      t.equal(answer.get("state"), state, "the state came back in the fragment");
      const code = answer.get("code") ?? "";
      t.ok(code.length > 0, "and the code");
      t.notOk(
        catcher.hits.some((hit) => hit.search.includes(code)),
        "the code never reached the redirect_uri's server",
      );

      const tokens = await oauth.completeAuthorizationCodeGrant(code);
      t.match(tokens, {
        token_type: "Bearer",
        access_token: String,
        refresh_token: String,
        expires_in: Number,
        scope: requested.searchParams.get("scope"),
      });
      t.equal(tokens.expires_in, ACCESS_TTL_MS / 1000, "expires_in is tokens.access_ttl in seconds");

      const persisted: { accessToken: string; refreshToken?: string }[] = [];
      const refresher = new TokenRefresher(oauth, async (fresh) => {
        persisted.push(fresh);
      });
      const alice = client(t, gw, {
        userId: ALICE,
        deviceId: DEVICE,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        tokenRefreshFunction: refresher.tokenRefreshFunction,
      });
      t.match(await alice.whoami(), { user_id: ALICE, device_id: DEVICE }, "whoami answers the user and the scope's device");

      gw.clock.advance(ACCESS_TTL_MS + 60_000);
      t.match(await alice.whoami(), { user_id: ALICE, device_id: DEVICE }, "whoami works again after the SDK refreshed");
      t.equal(persisted.length, 1, "the refresher ran once");
      t.not(alice.getAccessToken(), tokens.access_token, "with a new access token");

      // A refresh token used twice past the grace window is theft: the OAuth error makes 42 log out.
      gw.clock.advance(60_000);
      const replay = await oauth.performRefreshTokenGrant(tokens.refresh_token ?? "").catch((error: unknown) => error);
      t.ok(replay instanceof OAuth2HTTPError, "a replayed refresh token is an OAuth error");
      t.match(replay, { httpStatus: 400, error: "invalid_grant" });

      // The replay ended the session (theft rule of /refresh, which the token endpoint shares), so log in again to test revocation.
      const reachedBeforeTheftCheck = whoamisAtHomeserver(gw);
      const whoamiAfterTheft = await alice.whoami().catch((error: unknown) => error);
      t.equal(whoamisAtHomeserver(gw), reachedBeforeTheftCheck, "refused by the gateway itself: no whoami reached the homeserver");
      t.match(whoamiAfterTheft, { httpStatus: 401, errcode: "M_UNKNOWN_TOKEN" }, "the theft revoked the session");
      t.ok(await deviceLoggedOut(gw, DEVICE), "and logged the homeserver device out");
      const refreshAfterTheft = await refresher.tokenRefreshFunction(alice.getRefreshToken() ?? "").catch((error: unknown) => error);
      t.ok(refreshAfterTheft instanceof TokenRefreshLogoutError, "42 treats the dead refresh token as a logout");

      const second = new OAuth2(metadata, { clientId, redirectUri: catcher.redirectUri, deviceId: DEVICE }, silent);
      const again = await authorizeInBrowser(
        browser,
        await second.generateAuthorizationCodeGrantUrl("second", "query"),
        catcher.redirectUri,
      );
      const fresh = await second.completeAuthorizationCodeGrant(again.landed.searchParams.get("code") ?? "");
      const upstream = upstreamTokenOf(gw, DEVICE);
      t.ok(upstream, "the second login created the device at the homeserver again");
      const logoutsBefore = gw.homeserver.logouts.length;
      await second.revokeToken(fresh.access_token, "access_token");
      t.same(gw.homeserver.logouts.slice(logoutsBefore), [{ path: "/logout", token: upstream }], "revocation logged the device out");
      const reachedBeforeRevokedCheck = whoamisAtHomeserver(gw);
      const revoked = await client(t, gw, { accessToken: fresh.access_token })
        .whoami()
        .catch((error: unknown) => error);
      t.ok(revoked instanceof MatrixError);
      t.equal(whoamisAtHomeserver(gw), reachedBeforeRevokedCheck, "refused by the gateway itself: no whoami reached the homeserver");
      t.match(revoked, { httpStatus: 401, errcode: "M_UNKNOWN_TOKEN", data: { soft_logout: false } });
      const refreshRevoked = await second.performRefreshTokenGrant(fresh.refresh_token ?? "").catch((error: unknown) => error);
      t.match(refreshRevoked, { httpStatus: 400, error: "invalid_grant" }, "the refresh token died with the session");
    },
  );
}
