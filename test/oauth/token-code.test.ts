/**
 * The token endpoint's `authorization_code` grant: a code planted as the authorization page stores it is
 * exchanged once, by its client, with its redirect URI and PKCE verifier, for the gateway's usual pair and
 * an ID token; anything else is `400 invalid_grant` and spends the code (its homeserver session logged
 * out); a code presented again ends the session it started.
 */
import { createLocalJWKSet, jwtVerify } from "jose";
import t, { type Test } from "tap";
import { CLIENT_ID, codeExchange, ISSUER, type OAuthGateway, SCOPE, startOAuthGateway } from "../helpers/oauth.js";
import { expectOwnHeaders, expectSessionRevoked, whoami } from "../helpers/session-api.js";

type Reply = Awaited<ReturnType<OAuthGateway["request"]>>;

function expectTokenHeaders(t: Test, reply: Reply): void {
  expectOwnHeaders(t, reply);
  t.equal(reply.headers.get("cache-control"), "no-store");
  t.equal(reply.headers.get("pragma"), "no-cache");
}

function expectOAuthError(t: Test, reply: Reply, status: number, error: string, description: string): void {
  t.equal(reply.status, status, error);
  t.same(reply.body, { error, error_description: description });
  expectTokenHeaders(t, reply);
}

const exchange = (gw: OAuthGateway, form: Record<string, string>) => gw.postForm("/oauth2/token", form);

t.test("a code exchanged: the usual pair in OAuth's words, a verifiable ID token, a working session", async (t) => {
  const gw = await startOAuthGateway(t);
  const planted = await gw.plantCode();
  const reply = await exchange(gw, codeExchange(planted));
  t.equal(reply.status, 200);
  t.same(Object.keys(reply.body).sort(), ["access_token", "expires_in", "id_token", "refresh_token", "scope", "token_type"]);
  t.equal(reply.body.token_type, "Bearer");
  t.equal(reply.body.expires_in, 300);
  t.equal(reply.body.scope, SCOPE);
  t.match(reply.body.refresh_token, /^mago_[A-Za-z0-9_-]{64}$/);
  expectTokenHeaders(t, reply);

  const me = await whoami(gw, reply.body.access_token);
  t.equal(me.status, 200);
  t.same(me.body, { user_id: "@alice:example.org", device_id: "DEVICE1" });
  const session = await gw.store.getSession(planted.record.sessionId);
  t.same(session?.oauth, { clientId: CLIENT_ID, scope: SCOPE }, "the session records its client and scope");
  t.equal(session?.upstreamToken, planted.record.upstreamToken);

  const jwks = await gw.request("/oauth2/keys.json");
  const verified = await jwtVerify(reply.body.id_token, createLocalJWKSet(jwks.body), {
    issuer: ISSUER,
    audience: CLIENT_ID,
    algorithms: ["RS256"],
    currentDate: new Date(gw.clock.now()),
  });
  const iat = Math.floor(gw.clock.now() / 1000);
  t.same(verified.payload, { nonce: "nonce-123", iss: ISSUER, aud: CLIENT_ID, sub: "@alice:example.org", iat, exp: iat + 600 });
  t.same(verified.protectedHeader, { alg: "RS256", kid: gw.config.oauth.signing_key?.kid, typ: "JWT" });
  t.same(gw.homeserver.logouts, [], "no homeserver logout");
});

t.test("no openid in the scope: no ID token", async (t) => {
  const gw = await startOAuthGateway(t);
  const scope = "urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:DEVICE1";
  const reply = await exchange(gw, codeExchange(await gw.plantCode({ scope })));
  t.equal(reply.status, 200);
  t.same(Object.keys(reply.body).sort(), ["access_token", "expires_in", "refresh_token", "scope", "token_type"]);
  t.equal(reply.body.scope, scope);
});

t.test("a code presented again: invalid_grant, and the session it started is ended with its homeserver device", async (t) => {
  const gw = await startOAuthGateway(t);
  const planted = await gw.plantCode();
  const first = await exchange(gw, codeExchange(planted));
  t.equal(first.status, 200);
  const again = await exchange(gw, codeExchange(planted));
  expectOAuthError(t, again, 400, "invalid_grant", "The authorization code is unknown, expired or already used");
  await expectSessionRevoked(t, gw, first.body.access_token);
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: planted.record.upstreamToken }]);
  const refreshed = await exchange(gw, { grant_type: "refresh_token", refresh_token: first.body.refresh_token });
  expectOAuthError(t, refreshed, 400, "invalid_grant", "The refresh token is invalid, expired or revoked");
});

t.test("a request that does not match the code: invalid_grant, the code spent, its homeserver session logged out", async (t) => {
  const gw = await startOAuthGateway(t);
  const cases: [string, (verifier: string) => Record<string, string>, string][] = [
    ["wrong verifier", () => ({ code_verifier: "x".repeat(43) }), "code_verifier does not match the code_challenge"],
    ["verifier too short", (v) => ({ code_verifier: v.slice(0, 42) }), "code_verifier does not match the code_challenge"],
    ["no verifier", () => ({ code_verifier: "" }), "Missing parameter: code_verifier"],
    ["another client", () => ({ client_id: "other-client" }), "The code was issued to another client"],
    [
      "another redirect URI",
      () => ({ redirect_uri: "https://app.example.com/other" }),
      "redirect_uri differs from the authorization request's",
    ],
  ];
  for (const [name, change, description] of cases) {
    const planted = await gw.plantCode();
    const form = codeExchange(planted, change(planted.verifier));
    if (form.code_verifier === "") delete form.code_verifier;
    const logoutsBefore = gw.homeserver.logouts.length;
    expectOAuthError(t, await exchange(gw, form), 400, "invalid_grant", description);
    t.same(
      gw.homeserver.logouts.slice(logoutsBefore),
      [{ path: "/logout", token: planted.record.upstreamToken }],
      `${name}: homeserver session logged out at once`,
    );
    const retry = await exchange(gw, codeExchange(planted));
    expectOAuthError(t, retry, 400, "invalid_grant", "The authorization code is unknown, expired or already used");
    t.equal(await gw.store.getSession(planted.record.sessionId), undefined, `${name}: no session`);
  }
});

t.test("an expired or unknown code: invalid_grant", async (t) => {
  const gw = await startOAuthGateway(t);
  const planted = await gw.plantCode();
  gw.clock.advance(5 * 60_000);
  expectOAuthError(
    t,
    await exchange(gw, codeExchange(planted)),
    400,
    "invalid_grant",
    "The authorization code is unknown, expired or already used",
  );
  expectOAuthError(
    t,
    await exchange(gw, codeExchange(planted, { code: "nonsense" })),
    400,
    "invalid_grant",
    "The authorization code is unknown, expired or already used",
  );
});

t.test("a new login on a device ends the older gateway session there, not the homeserver device", async (t) => {
  const gw = await startOAuthGateway(t);
  const first = await exchange(gw, codeExchange(await gw.plantCode()));
  const other = await exchange(gw, codeExchange(await gw.plantCode({ deviceId: "DEVICE2" })));
  const second = await exchange(gw, codeExchange(await gw.plantCode()));
  t.equal(second.status, 200);
  await expectSessionRevoked(t, gw, first.body.access_token);
  t.equal((await whoami(gw, other.body.access_token)).status, 200, "another device's session is kept");
  t.equal((await whoami(gw, second.body.access_token)).status, 200);
  t.same(gw.homeserver.logouts, [], "the homeserver device is the new session's too: never logged out");
});

t.test("malformed requests: invalid_request, unsupported_grant_type", async (t) => {
  const gw = await startOAuthGateway(t);
  const json = await gw.request("/oauth2/token", {
    method: "POST",
    body: JSON.stringify({ grant_type: "authorization_code" }),
    headers: { "Content-Type": "application/json" },
  });
  expectOAuthError(t, json, 400, "invalid_request", "The body must be application/x-www-form-urlencoded");
  expectOAuthError(t, await exchange(gw, {}), 400, "invalid_request", "Missing parameter: grant_type");
  expectOAuthError(
    t,
    await exchange(gw, { grant_type: "client_credentials" }),
    400,
    "unsupported_grant_type",
    "Supported grant types: authorization_code, refresh_token",
  );
  expectOAuthError(t, await exchange(gw, { grant_type: "authorization_code" }), 400, "invalid_request", "Missing parameter: code");
  const doubled = await gw.request("/oauth2/token", {
    method: "POST",
    body: "grant_type=refresh_token&grant_type=authorization_code",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  expectOAuthError(t, doubled, 400, "invalid_request", "Parameter sent more than once: grant_type");
  const preflight = await gw.request("/oauth2/token", { method: "OPTIONS" });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get("access-control-allow-origin"), "*");
  // The router's own refusals on the OAuth JSON endpoints are OAuth errors too, not Matrix errcodes.
  for (const path of ["/oauth2/token", "/oauth2/revoke", "/oauth2/registration"]) {
    const get = await gw.request(path);
    t.equal(get.status, 405, `GET ${path}`);
    t.same(get.body, { error: "invalid_request", error_description: "Method not allowed" }, `GET ${path}: OAuth JSON`);
    t.equal(get.headers.get("allow"), "POST, OPTIONS", `GET ${path}: Allow`);
    t.equal(get.headers.get("access-control-allow-origin"), "*", `GET ${path}: CORS`);
  }
});
