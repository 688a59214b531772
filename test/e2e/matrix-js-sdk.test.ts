/**
 * A real client: matrix-js-sdk 42 (the SDK under Element Web; 43 removed `tokenRefreshFunction`, keeping only
 * OAuth 2.0 refresh, so this test stays on 42) talking to the gateway, with the fake
 * homeserver behind it. Proves that login with `refresh_token: true`, authenticated calls, /sync and
 * the SDK's own automatic refresh (`tokenRefreshFunction`, triggered by a soft-logout 401) work end to
 * end, in Authorization-header mode and in query-string mode (contract: "Every other request", step 1).
 *
 * The gateway's ManualClock decides expiry; the SDK keeps using real time, which is fine because the
 * gateway is the one that rejects the expired token.
 */

import {
  ClientPrefix,
  createClient,
  type ICreateClientOpts,
  type LoginResponse,
  type MatrixClient,
  MatrixError,
  Method,
  type TokenRefreshFunction,
} from "matrix-js-sdk";
import t, { type Test } from "tap";
import { startGateway, type TestGateway } from "../helpers/gateway.js";

const ACCESS_TTL_MS = 5 * 60_000; // startGateway's default `tokens.access_ttl: 5m`
/** Far enough past access_ttl to also clear the gateway's `clock_skew` tolerance (default 5s). */
const PAST_EXPIRY_MS = ACCESS_TTL_MS + 60_000;
const WHOAMI = "/_matrix/client/v3/account/whoami";

/** The SDK logs every request at debug level and refresh failures at warn/error: keep it quiet. */
type Logger = NonNullable<ICreateClientOpts["logger"]>;
const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, getChild: () => silent };

interface Exchange {
  method: string;
  url: URL;
  authorization: string | null;
  status: number;
  body: any;
}

/** A fetch() for the SDK that records every exchange, so tests can assert the exact wire sequence. */
function recordingFetch(exchanges: Exchange[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const response = await fetch(request);
    const text = await response.clone().text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    exchanges.push({
      method: request.method,
      url: new URL(request.url),
      authorization: request.headers.get("authorization"),
      status: response.status,
      body,
    });
    return response;
  };
}

/** createClient with bounded requests, a silent logger, and teardown registered on the test. */
function client(t: Test, gw: TestGateway, opts: Omit<ICreateClientOpts, "baseUrl"> = {}): MatrixClient {
  const c = createClient({ baseUrl: gw.url, logger: silent, localTimeoutMs: 5_000, ...opts });
  t.teardown(() => {
    c.stopClient();
    c.http.abort();
  });
  return c;
}

/** The SDK's login call (loginRequest sends the body as given: the client must ask for a refresh token itself). */
function passwordLogin(c: MatrixClient): Promise<LoginResponse> {
  return c.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: "alice" },
    password: "wonderland",
    refresh_token: true,
  });
}

/** Every JWT-shaped value the gateway issued must never show up at the homeserver. */
function assertHomeserverNeverSaw(t: Test, gw: TestGateway, tokens: string[]): void {
  const seen = JSON.stringify(gw.homeserver.received);
  for (const token of tokens) t.notOk(seen.includes(token), "the homeserver never received the gateway's access token");
}

const sync = (c: MatrixClient) => c.http.authedRequest<{ next_batch: string }>(Method.Get, "/sync", { timeout: "0" });

t.test("header mode: login, whoami, /sync, then automatic refresh after expiry", { timeout: 20_000 }, async (t) => {
  const gw = await startGateway(t);
  const exchanges: Exchange[] = [];
  const fetchFn = recordingFetch(exchanges);

  const login = await passwordLogin(client(t, gw, { fetchFn }));
  t.match(login, { user_id: "@alice:example.org", home_server: "example.org", expires_in_ms: ACCESS_TTL_MS });
  t.type(login.refresh_token, "string", "the gateway honoured refresh_token: true");
  t.equal(login.access_token.split(".").length, 3, "the access token is a JWT");

  // Refresh through a second, token-less client: calling the same client's refreshToken() from
  // inside its own tokenRefreshFunction deadlocks (anchors.md, "Real clients").
  const refresher = client(t, gw, { fetchFn });
  let refreshCalls = 0;
  const tokenRefreshFunction: TokenRefreshFunction = async (refreshToken) => {
    refreshCalls++;
    const answer = await refresher.refreshToken(refreshToken);
    return {
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiry: new Date(Date.now() + (answer.expires_in_ms ?? ACCESS_TTL_MS)),
    };
  };
  const alice = client(t, gw, {
    fetchFn,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
    refreshToken: login.refresh_token,
    tokenRefreshFunction,
  });

  t.same(await alice.whoami(), { user_id: "@alice:example.org", device_id: login.device_id });
  const synced = await sync(alice);
  t.match(synced, { next_batch: /^s\d+$/, rooms: { join: {} } });
  const beforeExpiry = exchanges.filter((e) => e.url.pathname !== "/_matrix/client/v3/login");
  t.same(
    beforeExpiry.map((e) => [e.method, e.url.pathname, e.status, e.authorization]),
    [
      ["GET", WHOAMI, 200, `Bearer ${login.access_token}`],
      ["GET", "/_matrix/client/v3/sync", 200, `Bearer ${login.access_token}`],
    ],
    "header mode sends the JWT as Authorization: Bearer",
  );
  t.notOk(
    beforeExpiry.some((e) => e.url.searchParams.has("access_token")),
    "no query-string token in header mode",
  );

  // The gateway's clock passes access_ttl: its next answer is the soft-logout 401 that makes the SDK refresh.
  gw.clock.advance(PAST_EXPIRY_MS);
  exchanges.length = 0;
  t.same(await alice.whoami(), { user_id: "@alice:example.org", device_id: login.device_id });

  t.equal(refreshCalls, 1, "the SDK called tokenRefreshFunction once");
  const newAccess = alice.getAccessToken();
  t.not(newAccess, login.access_token, "the client now holds a new access token");
  t.not(alice.getRefreshToken(), login.refresh_token, "and a new (rotated) refresh token");
  t.same(
    exchanges.map((e) => [e.method, e.url.pathname, e.status]),
    [
      ["GET", WHOAMI, 401],
      ["POST", "/_matrix/client/v3/refresh", 200],
      ["GET", WHOAMI, 200],
    ],
    "expired → refresh through the gateway → retried with the new token",
  );
  t.match(exchanges[0]?.body, { errcode: "M_UNKNOWN_TOKEN", soft_logout: true, error: String });
  t.equal(exchanges[1]?.authorization, null, "the token-less refresher sends no access token");
  t.same(exchanges[2]?.authorization, `Bearer ${newAccess}`);
  t.match(
    gw.logs.filter((l) => l.event === "refresh"),
    [{ event: "refresh", user_id: "@alice:example.org", retried: false }],
    "the gateway performed exactly one refresh",
  );

  // The new token keeps working for /sync too.
  t.match(await sync(alice), { next_batch: /^s\d+$/ });
  assertHomeserverNeverSaw(t, gw, [login.access_token, newAccess!]);
});

t.test("query-string mode (useAuthorizationHeader: false): login, whoami, /sync, manual refresh", { timeout: 20_000 }, async (t) => {
  const gw = await startGateway(t);
  const exchanges: Exchange[] = [];
  const fetchFn = recordingFetch(exchanges);

  const login = await passwordLogin(client(t, gw, { fetchFn, useAuthorizationHeader: false }));
  t.match(login, { user_id: "@alice:example.org", expires_in_ms: ACCESS_TTL_MS, refresh_token: String });

  // No tokenRefreshFunction: matrix-js-sdk 37.5 retried a refreshed request with the stale
  // ?access_token (anchors.md), so query-mode refresh is driven by hand below.
  const alice = client(t, gw, {
    fetchFn,
    useAuthorizationHeader: false,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
  });
  exchanges.length = 0;
  t.same(await alice.whoami(), { user_id: "@alice:example.org", device_id: login.device_id });
  t.match(await sync(alice), { next_batch: /^s\d+$/, rooms: { join: {} } });
  t.same(
    exchanges.map((e) => [e.method, e.url.pathname, e.status, e.authorization, e.url.searchParams.get("access_token")]),
    [
      ["GET", WHOAMI, 200, null, login.access_token],
      ["GET", "/_matrix/client/v3/sync", 200, null, login.access_token],
    ],
    "query mode sends the JWT as ?access_token and no Authorization header",
  );
  t.equal(exchanges[1]?.url.searchParams.get("timeout"), "0", "other query parameters are kept");

  // What reached the homeserver: its own credential, never the JWT.
  const upstream = gw.homeserver.received.filter((r) => r.url.startsWith(WHOAMI) || r.url.startsWith("/_matrix/client/v3/sync"));
  t.equal(upstream.length, 2);
  for (const r of upstream) t.equal(r.userId, "@alice:example.org", `${r.method} ${r.url.split("?")[0]} authenticated upstream`);
  t.match(
    upstream.find((r) => r.url.startsWith("/_matrix/client/v3/sync"))?.url,
    /[?&]timeout=0(&|$)/,
    "the sync query survives the token swap",
  );

  // Expired: the SDK surfaces the gateway's soft-logout 401 as a MatrixError.
  gw.clock.advance(PAST_EXPIRY_MS);
  const expired = await alice.whoami().then(
    () => undefined,
    (error: unknown) => error,
  );
  t.type(expired, MatrixError);
  t.match((expired as MatrixError).data, { errcode: "M_UNKNOWN_TOKEN", soft_logout: true });
  t.equal((expired as MatrixError).httpStatus, 401);

  // Refresh on the spec-v1.3 v1 endpoint, through the SDK's HTTP layer without any token.
  const refreshed = await alice.http.request<{ access_token: string; refresh_token: string; expires_in_ms: number }>(
    Method.Post,
    "/refresh",
    undefined,
    { refresh_token: login.refresh_token },
    { prefix: ClientPrefix.V1 },
  );
  t.match(refreshed, { access_token: String, refresh_token: /^magr_/, expires_in_ms: ACCESS_TTL_MS });
  t.not(refreshed.access_token, login.access_token);
  t.not(refreshed.refresh_token, login.refresh_token);
  const refreshCall = exchanges.at(-1);
  t.equal(refreshCall?.url.pathname, "/_matrix/client/v1/refresh");
  t.notOk(refreshCall?.url.searchParams.has("access_token"), "refresh is sent without an access token");

  alice.setAccessToken(refreshed.access_token);
  t.same(await alice.whoami(), { user_id: "@alice:example.org", device_id: login.device_id });
  t.equal(exchanges.at(-1)?.url.searchParams.get("access_token"), refreshed.access_token, "the new JWT is used in the query");
  t.match(await sync(alice), { next_batch: /^s\d+$/ });

  assertHomeserverNeverSaw(t, gw, [login.access_token, refreshed.access_token]);
});
