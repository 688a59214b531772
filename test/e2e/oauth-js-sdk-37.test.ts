/**
 * A next-generation Matrix client logs in through the gateway to a homeserver that has never heard of
 * OAuth: matrix-js-sdk 37.5's own OIDC helpers (the code under Element Web's OIDC login), unmodified,
 * with the user typing their password into the gateway's login page in a real Chromium.
 *
 * Discovery through the client (`getAuthMetadata`, which 37 reads from the MSC2965 unstable path),
 * dynamic registration, the authorization URL, the browser login and consent, the redirect to a loopback
 * redirect_uri, the code exchange (37 requires and checks an ID token), `whoami` as the scope's device,
 * the SDK's automatic refresh through `OidcTokenRefresher` after expiry, and revocation ending the
 * session (the homeserver device is logged out).
 *
 * In Node the helpers need `window.sessionStorage` and `window.location.origin` (test/helpers/browser-globals.ts).
 * matrix-js-sdk 37 has no revocation helper: Element Web revokes with oidc-client-ts's OidcClient, as here.
 */

import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  completeAuthorizationCodeGrant,
  createClient,
  generateOidcAuthorizationUrl,
  type MatrixClient,
  MatrixError,
  OidcTokenRefresher,
  registerOidcClient,
} from "matrix-js-sdk-37";
import { logger } from "matrix-js-sdk-37/lib/logger.js";
import { OidcClient } from "oidc-client-ts";
import t, { type Test } from "tap";
import { installBrowserGlobals } from "../helpers/browser-globals.js";
import { BROWSER_WAIT_MS, hasChromium, launchChromium, NO_CHROMIUM } from "../helpers/chromium.js";
import { recordGatewayRequests } from "../helpers/gateway-requests.js";
import { authorizeInBrowser } from "../helpers/oauth-browser-login.js";
import { type OAuthTestGateway, startOAuthGateway } from "../helpers/oauth-gateway.js";
import { upstreamTokenOf, whoamisAtHomeserver } from "../helpers/oauth-http-flow.js";
import { startRedirectCatcher } from "../helpers/redirect-catcher.js";

const ACCESS_TTL_MS = 5 * 60_000; // startGateway's default tokens.access_ttl
const UNSTABLE_PREFIX = "urn:matrix:org.matrix.msc2967.client:";
const ALICE = "@alice:example.org";

/** The SDK logs every request, and the refresh failure the test provokes at the end (a loglevel logger at runtime). */
(logger as unknown as { setLevel(level: string): void }).setLevel("silent");

function client(t: Test, gw: OAuthTestGateway, opts: Parameters<typeof createClient>[0] | object = {}): MatrixClient {
  const c = createClient({ baseUrl: gw.url, localTimeoutMs: 10_000, ...opts });
  t.teardown(() => {
    c.stopClient();
    c.http.abort();
  });
  return c;
}

/** Refreshes through the SDK's own OIDC refresher and keeps what it would persist. */
class RecordingRefresher extends OidcTokenRefresher {
  readonly persisted: { accessToken: string; refreshToken?: string }[] = [];
  override async persistTokens(tokens: { accessToken: string; refreshToken?: string }): Promise<void> {
    this.persisted.push(tokens);
  }
}

if (!hasChromium()) {
  t.plan(0, NO_CHROMIUM);
} else {
  t.test(
    "matrix-js-sdk 37: discovery, registration, browser login, code grant, refresh, revocation",
    { timeout: 4 * BROWSER_WAIT_MS },
    async (t) => {
      const gw = await startOAuthGateway(t);
      const seen = recordGatewayRequests(gw);
      const catcher = await startRedirectCatcher(t);
      installBrowserGlobals(t, catcher.origin);

      // Discovery, the way 37 does it: the MSC2965 path on the homeserver URL, then the JWKS.
      const metadata = await client(t, gw).getAuthMetadata();
      t.equal(metadata.issuer, gw.issuer, "the issuer is public_baseurl");
      t.equal(metadata.signingKeys?.length, 1, "jwks_uri lists the ID-token key");
      t.match(metadata.signingKeys?.[0], { kty: "RSA" });
      t.match(
        seen.filter((s) => s.path.includes("auth_metadata")),
        [{ method: "GET", path: "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata", status: 200 }],
      );

      const clientId = await registerOidcClient(metadata, {
        clientName: "Element (matrix-js-sdk 37 test)",
        clientUri: "https://element.example.org/",
        redirectUris: ["http://127.0.0.1/callback"],
        applicationType: "native",
        contacts: undefined,
        tosUri: undefined,
        policyUri: undefined,
      });
      t.type(clientId, "string", "dynamic registration gave a client_id");

      const nonce = "nonce-of-the-37-test";
      const authorizationUrl = await generateOidcAuthorizationUrl({
        metadata,
        redirectUri: catcher.redirectUri,
        clientId,
        homeserverUrl: gw.url,
        nonce,
      });
      const requested = new URL(authorizationUrl);
      const scope = requested.searchParams.get("scope") ?? "";
      const deviceId =
        scope
          .split(" ")
          .find((s) => s.startsWith(`${UNSTABLE_PREFIX}device:`))
          ?.slice(`${UNSTABLE_PREFIX}device:`.length) ?? "";
      t.equal(scope, `openid ${UNSTABLE_PREFIX}api:* ${UNSTABLE_PREFIX}device:${deviceId}`, "37 asks with the unstable scope prefix");
      t.ok(deviceId.length > 0, "and a device of its own choosing");
      t.match(Object.fromEntries(requested.searchParams), {
        response_mode: "query",
        code_challenge_method: "S256",
        nonce,
        client_id: clientId,
      });

      // The user logs in on the gateway's page in a real browser and is sent back to the client.
      const browser = await launchChromium(t);
      const { landed, documents } = await authorizeInBrowser(browser, authorizationUrl, catcher.redirectUri);
      const callback = await catcher.next(BROWSER_WAIT_MS);
      t.equal(landed.origin + landed.pathname, catcher.redirectUri, "the browser ended on the redirect_uri");
      t.equal(callback.searchParams.get("state"), requested.searchParams.get("state"), "with the state");
      const code = callback.searchParams.get("code") ?? "";
      t.ok(code.length > 0, "and a code");
      t.ok(documents.length > 0, "the browser loaded the gateway's pages");
      t.ok(
        documents.every((d) => d.headers["cache-control"]?.includes("no-store")),
        "no gateway page may be cached",
      );

      // The homeserver saw an ordinary password login naming the scope's device.
      const logins = gw.homeserver.received.filter((r) => r.method === "POST" && /\/login$/.test(r.url));
      t.equal(logins.length, 1, "one homeserver login");
      t.match(JSON.parse(logins[0]?.body ?? "{}"), { type: "m.login.password", device_id: deviceId });

      const grant = await completeAuthorizationCodeGrant(code, callback.searchParams.get("state") ?? "");
      t.match(grant, {
        oidcClientSettings: { clientId, issuer: gw.issuer },
        homeserverUrl: gw.url,
        tokenResponse: { token_type: "Bearer", access_token: String, refresh_token: String, id_token: String, scope },
        // oidc-client-ts drops the protocol claims (nonce, iat, exp, …) from the profile it hands back.
        idTokenClaims: { iss: gw.issuer, aud: clientId, sub: String },
      });
      // 37 checked them (validateIdToken: iss, aud, nonce, exp) or it would have thrown; here is what it read.
      t.match(decodeJwt(grant.tokenResponse.id_token ?? ""), {
        iss: gw.issuer,
        aud: clientId,
        nonce,
        sub: String,
        iat: Number,
        exp: Number,
      });
      t.equal(decodeProtectedHeader(grant.tokenResponse.id_token ?? "").alg, "RS256");
      const { access_token: accessToken, refresh_token: refreshToken } = grant.tokenResponse;

      const refresher = new RecordingRefresher(gw.issuer, clientId, catcher.redirectUri, deviceId, grant.idTokenClaims);
      await refresher.oidcClientReady;
      const alice = client(t, gw, {
        userId: ALICE,
        deviceId,
        accessToken,
        refreshToken,
        tokenRefreshFunction: refresher.doRefreshAccessToken.bind(refresher),
      });
      t.match(await alice.whoami(), { user_id: ALICE, device_id: deviceId }, "whoami answers the user and the scope's device");

      // Past expiry the gateway answers a soft logout; the SDK refreshes at the token endpoint and retries.
      gw.clock.advance(ACCESS_TTL_MS + 60_000);
      t.match(await alice.whoami(), { user_id: ALICE, device_id: deviceId }, "whoami works again after the SDK refreshed");
      t.equal(refresher.persisted.length, 1, "the refresher ran once");
      t.not(alice.getAccessToken(), accessToken, "with a new access token");
      t.not(alice.getRefreshToken(), refreshToken, "and a rotated refresh token");
      t.ok(
        seen.some((s) => s.method === "POST" && s.path === "/oauth2/token" && s.status === 200),
        "the refresh went to the token endpoint",
      );

      // Log out as Element Web does: revoke through the revocation endpoint.
      const upstream = upstreamTokenOf(gw, deviceId);
      t.ok(upstream, "the homeserver holds a token for the device");
      const oidc = new OidcClient({ authority: gw.issuer, client_id: clientId, redirect_uri: catcher.redirectUri, metadata });
      await oidc.revokeToken(alice.getAccessToken() ?? "", "access_token");
      t.same(gw.homeserver.logouts, [{ path: "/logout", token: upstream }], "the homeserver device was logged out");
      const reachedHomeserver = whoamisAtHomeserver(gw);
      const after = await alice.whoami().catch((error: unknown) => error);
      t.equal(whoamisAtHomeserver(gw), reachedHomeserver, "refused by the gateway itself: no whoami reached the homeserver");
      t.ok(after instanceof MatrixError, "the revoked token is refused");
      t.match(after, { httpStatus: 401, errcode: "M_UNKNOWN_TOKEN", data: { soft_logout: false } });
      await oidc.revokeToken(alice.getRefreshToken() ?? "", "refresh_token"); // what Element Web sends next: 200 as well
      const refreshAfter = await refresher.doRefreshAccessToken(alice.getRefreshToken() ?? "").catch((error: unknown) => error);
      t.match(refreshAfter, { name: "TokenRefreshLogoutError" }, "the refresh token died with the session");

      const upstreamWire = JSON.stringify(gw.homeserver.received);
      for (const token of [accessToken, refreshToken ?? "", alice.getAccessToken() ?? "", code].filter((v) => v.length > 0)) {
        t.notOk(upstreamWire.includes(token), "the homeserver never saw the gateway's tokens or the code");
      }
    },
  );
}
