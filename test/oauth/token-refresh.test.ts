/**
 * The token endpoint's `refresh_token` grant follows `/refresh`'s rules exactly (rotation, retry grace, theft
 * ending the session and its homeserver device); each API takes only its own kind of refresh token, and a
 * token of the other kind is refused without effect. Both count against the refresh limits.
 */
import t, { type Test } from "tap";
import { CLIENT_ID, codeExchange, type OAuthGateway, SCOPE, startOAuthGateway } from "../helpers/oauth.js";
import { eventually, expectError, expectSessionRevoked, refresh, whoami } from "../helpers/session-api.js";
import { rateLimitsYaml } from "../ratelimit/limits.js";

const refreshForm = (token: string) => ({ grant_type: "refresh_token", refresh_token: token });

async function oauthLogin(gw: OAuthGateway) {
  const reply = await gw.postForm("/oauth2/token", codeExchange(await gw.plantCode()));
  if (reply.status !== 200) throw new Error(`code exchange failed: ${JSON.stringify(reply.body)}`);
  return reply.body as { access_token: string; refresh_token: string };
}

function expectInvalidGrant(t: Test, reply: Awaited<ReturnType<OAuthGateway["request"]>>): void {
  t.equal(reply.status, 400);
  t.same(reply.body, { error: "invalid_grant", error_description: "The refresh token is invalid, expired or revoked" });
  t.equal(reply.headers.get("cache-control"), "no-store");
}

t.test("rotation, a retry within the grace, then theft: the session ends and its homeserver device is logged out", async (t) => {
  const gw = await startOAuthGateway(t);
  const login = await oauthLogin(gw);
  const first = await gw.postForm("/oauth2/token", refreshForm(login.refresh_token));
  t.equal(first.status, 200);
  t.same(Object.keys(first.body).sort(), ["access_token", "expires_in", "refresh_token", "scope", "token_type"]);
  t.equal(first.body.scope, SCOPE);
  t.equal(first.body.token_type, "Bearer");
  t.equal(first.body.expires_in, 300);
  t.match(first.body.refresh_token, /^mago_/);
  t.not(first.body.refresh_token, login.refresh_token);
  t.equal(first.headers.get("cache-control"), "no-store");
  t.equal((await whoami(gw, first.body.access_token)).status, 200);

  // The answer was lost: the same token again within the grace is a retry, not theft.
  gw.clock.advance(10_000);
  const retry = await gw.postForm("/oauth2/token", refreshForm(login.refresh_token));
  t.equal(retry.status, 200, "a retry within the grace");
  t.ok(
    gw.logs.some((l) => l.event === "refresh" && l.retried === true),
    "logged as a retry",
  );

  gw.clock.advance(60_000);
  const stolen = await gw.postForm("/oauth2/token", refreshForm(login.refresh_token));
  expectInvalidGrant(t, stolen);
  t.ok(
    gw.logs.some((l) => l.event === "refresh_token_reuse"),
    "logged as reuse",
  );
  await expectSessionRevoked(t, gw, retry.body.access_token);
  t.ok(await eventually(() => gw.homeserver.logouts.length === 1), "the homeserver device is logged out");
  t.equal(gw.homeserver.logouts[0]?.path, "/logout");
  expectInvalidGrant(t, await gw.postForm("/oauth2/token", refreshForm(retry.body.refresh_token)));
  const metrics = await gw.gateway.metrics.registry.getSingleMetricAsString("matrix_auth_gateway_refreshes_total");
  for (const outcome of ["ok", "retry_in_grace", "theft", "refused"]) t.match(metrics, `outcome="${outcome}"`, outcome);
});

t.test("a legacy magr_ token at the token endpoint, an OAuth mago_ token at /refresh: refused without effect", async (t) => {
  const gw = await startOAuthGateway(t);
  const legacy = await gw.login();
  const oauth = await oauthLogin(gw);

  expectInvalidGrant(t, await gw.postForm("/oauth2/token", refreshForm(legacy.refresh_token)));
  expectError(t, await refresh(gw, oauth.refresh_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: true });

  t.equal((await whoami(gw, legacy.access_token)).status, 200, "the legacy session lives on");
  t.equal((await whoami(gw, oauth.access_token)).status, 200, "the OAuth session lives on");
  t.equal((await refresh(gw, legacy.refresh_token)).status, 200, "its own token still works at /refresh");
  t.equal((await gw.postForm("/oauth2/token", refreshForm(oauth.refresh_token))).status, 200, "and its own at the token endpoint");
  t.same(gw.homeserver.logouts, []);
});

t.test("the refresh limits apply: an OAuth-style 429 with Retry-After and no-store", async (t) => {
  const loose = { points: 1000, duration: "1h" };
  const gw = await startOAuthGateway(t, {
    rateLimits: rateLimitsYaml({ refresh: { per_address: { points: 2, duration: "1h" }, per_session: loose } }),
  });
  const login = await oauthLogin(gw); // one attempt
  t.equal((await gw.postForm("/oauth2/token", refreshForm(login.refresh_token))).status, 200);
  const limited = await gw.postForm("/oauth2/token", refreshForm(login.refresh_token));
  t.equal(limited.status, 429);
  t.same(limited.body, { error: "temporarily_unavailable", error_description: "Too many requests: try again later" });
  t.match(limited.headers.get("retry-after"), /^\d+$/);
  t.equal(limited.headers.get("cache-control"), "no-store");
  t.equal(limited.headers.get("pragma"), "no-cache");
  t.equal(limited.headers.get("access-control-allow-origin"), "*");
});

t.test("a client_id naming another client is refused before the rotation: the token still serves its own client", async (t) => {
  const gw = await startOAuthGateway(t);
  const login = await oauthLogin(gw);
  const other = await gw.postForm("/oauth2/token", { ...refreshForm(login.refresh_token), client_id: "another-client" });
  expectInvalidGrant(t, other);
  t.ok(
    gw.logs.some((l) => l.event === "refresh_refused" && l.reason === "other_client"),
    "logged with its reason",
  );
  // Long after any retry grace: had the refused request rotated the token, this would be theft.
  gw.clock.advance(600_000);
  const own = await gw.postForm("/oauth2/token", { ...refreshForm(login.refresh_token), client_id: CLIENT_ID });
  t.equal(own.status, 200, "the token's own client refreshes with it");
  t.match(own.body.refresh_token, /^mago_/);
  t.equal((await whoami(gw, own.body.access_token)).status, 200);
  t.equal(gw.homeserver.logouts.length, 0, "nothing was logged out");
  // Left out, client_id is taken on trust (RFC 6749 §3.2.1: a public client need not identify itself).
  const anonymous = await gw.postForm("/oauth2/token", refreshForm(own.body.refresh_token));
  t.equal(anonymous.status, 200);
});
