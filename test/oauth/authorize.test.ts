/**
 * `GET|POST P oauth2/authorize` over plain HTTP: the request's checks (a page for an unknown client or
 * redirect URI, a redirect with `error` for the rest), the sign-in form and its headers, CSRF, the password
 * check, the consent step and the code it stores.
 */
import t, { type Test } from "tap";
import { hashAuthorizationCode } from "../../src/oauth/code.js";
import {
  alertText,
  authorizeQuery,
  Browser,
  CHALLENGE,
  inputValue,
  NATIVE_CLIENT,
  PUBLIC_BASEURL,
  STABLE,
  startOAuthGateway,
  UNSTABLE,
  VERIFIER,
  WEB_CLIENT,
  WEB_REDIRECT,
} from "../helpers/oauth-pages.js";

const AUTHORIZE = "/oauth2/authorize";

function pageHeaders(t: Test, headers: Headers) {
  t.equal(headers.get("x-frame-options"), "DENY");
  const csp = headers.get("content-security-policy") ?? "";
  t.match(csp, /frame-ancestors 'none'/);
  t.equal(headers.get("cache-control"), "no-store");
  t.equal(headers.get("referrer-policy"), "no-referrer");
  return csp;
}

/** Signs in on the form the browser was shown; returns the reply. */
async function signIn(browser: Browser, form: string, username = "alice", password = "wonderland") {
  return browser.post(AUTHORIZE, { request: inputValue(form, "request") as string, username, password });
}

t.test("a valid request shows the sign-in form, framed by the security headers", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const reply = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  t.equal(reply.status, 200);
  t.equal(reply.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = pageHeaders(t, reply.headers);
  t.notMatch(csp, /form-action/, "no form-action: Chrome would block the 303 to the client after the POST");
  t.match(csp, /default-src 'none'/);
  const cookie = reply.headers.getSetCookie()[0] ?? "";
  t.match(cookie, /^mag_oauth_binding=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=600; HttpOnly; SameSite=Strict; Secure$/);
  t.match(reply.text, /<html lang="en">/);
  t.match(reply.text, /<h1>Sign in to example\.org<\/h1>/);
  t.match(reply.text, /to continue to <strong>Example Chat<\/strong> <span class="host">\(app\.example\.com\)<\/span>/);
  t.match(reply.text, /<label for="username">Username<\/label>\s*<input id="username" name="username" type="text" autocomplete="username"/);
  t.match(
    reply.text,
    /<label for="password">Password<\/label>\s*<input id="password" name="password" type="password" autocomplete="current-password"/,
  );
  t.match(reply.text, /<button type="submit" class="primary block">Sign in<\/button>/);
  t.match(reply.text, /<link rel="stylesheet" href="\/oauth2\/style\.css">/);
  t.notMatch(reply.text, /<script|style="/, "no script, no inline style");
  t.ok(inputValue(reply.text, "request"), "the sealed request");
  t.notMatch(reply.text, new RegExp(CHALLENGE), "the request is sealed, not readable");
});

t.test("the stylesheet is served and cacheable", async (t) => {
  const gw = await startOAuthGateway(t);
  const reply = await fetch(`${gw.url}/oauth2/style.css`);
  t.equal(reply.status, 200);
  t.equal(reply.headers.get("content-type"), "text/css; charset=utf-8");
  t.equal(reply.headers.get("cache-control"), "public, max-age=86400");
  t.match(await reply.text(), /--accent/);
  const again = await fetch(`${gw.url}/oauth2/style.css`, { headers: { "If-None-Match": reply.headers.get("etag") as string } });
  t.equal(again.status, 304);
});

t.test("an unknown client or an unregistered redirect URI: a page, never a redirect", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const cases: [string, Record<string, string | undefined>, RegExp][] = [
    ["unknown client", { client_id: "nobody" }, /Unknown application/],
    ["no client", { client_id: undefined }, /Unknown application/],
    ["unregistered redirect", { redirect_uri: "https://evil.example/callback" }, /Unknown redirect address/],
    ["no redirect", { redirect_uri: undefined }, /Unknown redirect address/],
    ["a registered URI with a port added", { redirect_uri: "https://app.example.com:8443/callback" }, /Unknown redirect address/],
    ["another client's URI", { redirect_uri: "http://127.0.0.1:5000/callback" }, /Unknown redirect address/],
    [
      "redirect_uri twice",
      { redirect_uri: `${WEB_REDIRECT}&redirect_uri=${encodeURIComponent(WEB_REDIRECT)}` },
      /Unknown redirect address/,
    ],
  ];
  for (const [name, overrides, title] of cases) {
    const query = authorizeQuery(overrides).replace("%26redirect_uri%3D", "&redirect_uri=");
    const reply = await browser.get(`${AUTHORIZE}?${query}`);
    t.equal(reply.status, 400, name);
    t.equal(reply.location, null, `${name}: no redirect`);
    t.match(reply.text, title, name);
    pageHeaders(t, reply.headers);
  }
});

t.test("a native client's loopback URI registered without a port matches any port; its app scheme exactly", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  for (const uri of ["http://127.0.0.1:41234/callback", "http://127.0.0.1/callback", "net.example.native:/callback"]) {
    const reply = await browser.get(`${AUTHORIZE}?${authorizeQuery({ client_id: NATIVE_CLIENT, redirect_uri: uri })}`);
    t.equal(reply.status, 200, uri);
    t.match(reply.text, /to continue to <strong>native\.example\.net<\/strong><\/p>/, "named by its client_uri host");
  }
  for (const uri of ["http://127.0.0.1:41234/other", "http://localhost:41234/callback", "net.example.native:/other"]) {
    const reply = await browser.get(`${AUTHORIZE}?${authorizeQuery({ client_id: NATIVE_CLIENT, redirect_uri: uri })}`);
    t.equal(reply.status, 400, uri);
  }
});

t.test("other problems go back to the client with error and state", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const cases: [string, Record<string, string | undefined>, string][] = [
    ["no device", { scope: `${STABLE}api:*` }, "invalid_scope"],
    ["two devices", { scope: `${STABLE}api:* ${STABLE}device:A ${UNSTABLE}device:B` }, "invalid_scope"],
    ["no api", { scope: `${STABLE}device:A` }, "invalid_scope"],
    ["an unknown scope", { scope: `${STABLE}api:* ${STABLE}device:A email` }, "invalid_scope"],
    ["no scope", { scope: undefined }, "invalid_scope"],
    ["no code_challenge", { code_challenge: undefined }, "invalid_request"],
    ["plain PKCE", { code_challenge_method: "plain" }, "invalid_request"],
    ["no PKCE method", { code_challenge_method: undefined }, "invalid_request"],
    ["a short challenge", { code_challenge: "abc" }, "invalid_request"],
    ["response_type=token", { response_type: "token" }, "unsupported_response_type"],
    ["no response_type", { response_type: undefined }, "invalid_request"],
    ["response_mode=form_post", { response_mode: "form_post" }, "invalid_request"],
    ["state twice", { state: "s&state=t" }, "invalid_request"],
  ];
  for (const [name, overrides, error] of cases) {
    const query = authorizeQuery(overrides).replace("s%26state%3Dt", "s&state=t");
    const reply = await browser.get(`${AUTHORIZE}?${query}`);
    t.equal(reply.status, 303, name);
    pageHeaders(t, reply.headers);
    const location = new URL(reply.location as string);
    t.equal(`${location.origin}${location.pathname}`, WEB_REDIRECT, name);
    t.equal(location.searchParams.get("error"), error, name);
    t.ok(location.searchParams.get("error_description"), name);
    t.equal(location.searchParams.get("state"), name === "state twice" ? "s" : "state-123", name);
    t.equal(location.searchParams.get("iss"), PUBLIC_BASEURL, name);
    t.equal(location.hash, "", name);
  }
});

t.test("with response_mode=fragment the error is in the fragment", async (t) => {
  const gw = await startOAuthGateway(t);
  const reply = await new Browser(gw.url).get(`${AUTHORIZE}?${authorizeQuery({ response_mode: "fragment", scope: `${STABLE}api:*` })}`);
  t.equal(reply.status, 303);
  const location = new URL(reply.location as string);
  t.equal(location.search, "");
  const fragment = new URLSearchParams(location.hash.slice(1));
  t.equal(fragment.get("error"), "invalid_scope");
  t.equal(fragment.get("state"), "state-123");
});

t.test("a wrong password shows the form again with a message and the username kept", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const reply = await signIn(browser, form.text, "alice", "wrong");
  t.equal(reply.status, 200);
  t.equal(reply.location, null);
  pageHeaders(t, reply.headers);
  t.equal(alertText(reply.text), "Wrong username or password.");
  t.equal(inputValue(reply.text, "username"), "alice");
  t.equal(inputValue(reply.text, "password"), "", "the password is not sent back");
  t.match(
    gw.logs.find((line) => line.event === "login_failed"),
    { user_id: "@alice:example.org", errcode: "M_FORBIDDEN" },
    "the audit line of POST /login",
  );
  t.same(gw.homeserver.logins, [{ user: "@alice:example.org", ok: false }]);
  // The same form, with the right password, still works.
  const again = await signIn(browser, reply.text);
  t.equal(again.status, 200);
  t.match(again.text, /name="consent"/);
});

t.test("too many attempts: the form with a wait, 429", async (t) => {
  const gw = await startOAuthGateway(t, {
    rateLimits: `rate_limits: ${JSON.stringify({ enabled: true, login: { per_address: { points: 1, duration: "1m" } } })}`,
  });
  t.capture(Date, "now", () => gw.clock.now());
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  t.equal((await signIn(browser, form.text, "alice", "wrong")).status, 200);
  const limited = await signIn(browser, form.text, "alice", "wonderland");
  t.equal(limited.status, 429);
  t.match(alertText(limited.text), /^Too many attempts\. Try again in \d+ s\.$/);
  t.match(limited.headers.get("retry-after"), /^\d+$/);
  t.equal(inputValue(limited.text, "username"), "alice");
  t.equal(gw.homeserver.logins.length, 1, "the password was not checked");
});

t.test("CSRF: a form without this browser's cookie, with another's, altered or expired → 403", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const sealed = inputValue(form.text, "request") as string;
  const fields = { request: sealed, username: "alice", password: "wonderland" };

  const noCookie = await new Browser(gw.url).post(AUTHORIZE, fields);
  t.equal(noCookie.status, 403);
  t.match(noCookie.text, /This page has expired/);
  pageHeaders(t, noCookie.headers);

  const other = new Browser(gw.url);
  await other.get(`${AUTHORIZE}?${authorizeQuery()}`);
  t.equal((await other.post(AUTHORIZE, fields)).status, 403, "another browser's cookie");

  const altered = `${sealed.slice(0, -2)}${sealed.endsWith("A") ? "B" : "A"}A`;
  t.equal((await browser.post(AUTHORIZE, { ...fields, request: altered })).status, 403, "altered seal");
  t.equal((await browser.post(AUTHORIZE, { ...fields, request: "" })).status, 403, "no seal");

  gw.clock.advance(10 * 60_000 + 1000);
  t.equal((await browser.post(AUTHORIZE, fields)).status, 403, "past browser_session_ttl");
  t.same(gw.homeserver.logins, [], "no password was checked");
});

t.test("sign-in, consent, then a 303 with code, state and iss; the code is stored with the request's fields", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const consent = await signIn(browser, form.text);
  t.equal(consent.status, 200);
  pageHeaders(t, consent.headers);
  t.match(consent.text, /<h1>Allow <span class="name">Example Chat<\/span> to use your account\?<\/h1>/);
  t.match(consent.text, /<dt>Website<\/dt><dd>app\.example\.com<\/dd>/);
  t.match(consent.text, /<dt>Sends you back to<\/dt><dd>app\.example\.com<\/dd>/);
  t.match(consent.text, /<dt>Device<\/dt><dd><code>DEVICE1<\/code><\/dd>/);
  t.match(consent.text, /<button type="submit" name="consent" value="1" class="primary">Allow<\/button>/);
  t.match(consent.text, /name="cancel"/);
  t.same(gw.homeserver.logins, [{ user: "@alice:example.org", ok: true }]);

  const done = await browser.post(AUTHORIZE, { grant: inputValue(consent.text, "grant") as string, consent: "1" });
  t.equal(done.status, 303);
  pageHeaders(t, done.headers);
  const location = new URL(done.location as string);
  t.equal(`${location.origin}${location.pathname}`, WEB_REDIRECT);
  t.equal(location.searchParams.get("state"), "state-123");
  t.equal(location.searchParams.get("iss"), PUBLIC_BASEURL);
  const code = location.searchParams.get("code") as string;
  t.match(code, /^[A-Za-z0-9_-]{43}$/);

  const stored = await gw.store.takeCode(hashAuthorizationCode(code), gw.clock.now());
  t.ok(stored?.firstUse);
  t.match(stored?.code, {
    clientId: WEB_CLIENT,
    redirectUri: WEB_REDIRECT,
    scope: `openid ${UNSTABLE}api:* ${UNSTABLE}device:DEVICE1`,
    codeChallenge: CHALLENGE,
    nonce: "nonce-456",
    userId: "@alice:example.org",
    deviceId: "DEVICE1",
    sessionId: /^[0-9a-f]{32}$/,
    createdAt: gw.clock.now(),
    expiresAt: gw.clock.now() + 5 * 60_000,
  });
  const whoami = await fetch(`${gw.homeserver.url}/_matrix/client/v3/account/whoami`, {
    headers: { Authorization: `Bearer ${stored?.code.upstreamToken}` },
  });
  t.same(await whoami.json(), { user_id: "@alice:example.org", device_id: "DEVICE1" }, "the homeserver login made the scope's device");
  t.match(
    gw.logs.find((line) => line.event === "oauth_code_issued"),
    { user_id: "@alice:example.org", device_id: "DEVICE1", client_id: WEB_CLIENT, session: stored?.code.sessionId },
  );
  t.notMatch(JSON.stringify(gw.logs), new RegExp(code), "the code is not logged");
});

t.test("consent refused: access_denied, and the homeserver session just made is logged out", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const consent = await signIn(browser, form.text);
  const cancelled = await browser.post(AUTHORIZE, { grant: inputValue(consent.text, "grant") as string, cancel: "1" });
  t.equal(cancelled.status, 303);
  const location = new URL(cancelled.location as string);
  t.equal(location.searchParams.get("error"), "access_denied");
  t.equal(location.searchParams.get("state"), "state-123");
  t.equal(location.searchParams.get("code"), null);
  t.equal(gw.homeserver.logouts.length, 1);
  t.equal(gw.homeserver.logouts[0]?.path, "/logout");
  const whoami = await fetch(`${gw.homeserver.url}/_matrix/client/v3/account/whoami`, {
    headers: { Authorization: `Bearer ${gw.homeserver.logouts[0]?.token}` },
  });
  t.equal(whoami.status, 401, "the homeserver device's token is gone");
  t.same(await gw.store.takeExpiredCodes(gw.clock.now() + 3_600_000), [], "no code left waiting for the sweep");
  // Replaying the consent form with Allow hands over a code that is already spent.
  const replay = await browser.post(AUTHORIZE, { grant: inputValue(consent.text, "grant") as string, consent: "1" });
  t.equal(replay.status, 303);
  const spent = new URL(replay.location as string).searchParams.get("code") as string;
  t.notOk((await gw.store.takeCode(hashAuthorizationCode(spent), gw.clock.now()))?.firstUse, "the replayed code is spent");
});

t.test("the consent form is bound to the browser too", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const consent = await signIn(browser, form.text);
  const other = new Browser(gw.url);
  await other.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const reply = await other.post(AUTHORIZE, { grant: inputValue(consent.text, "grant") as string, consent: "1" });
  t.equal(reply.status, 403);
  t.equal(reply.location, null);
});

t.test("without consent: straight to the client, in the fragment when asked; nothing ended before the exchange", async (t) => {
  const gw = await startOAuthGateway(t, { oauthYaml: "consent: false" });
  const older = await gw.request("/_matrix/client/v3/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", user: "alice", password: "wonderland", device_id: "DEVICE1" }),
  });
  t.equal(older.status, 200);
  const otherDevice = await gw.login();
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery({ response_mode: "fragment" })}`);
  const reply = await signIn(browser, form.text);
  t.equal(reply.status, 303);
  const location = new URL(reply.location as string);
  t.equal(location.search, "");
  const fragment = new URLSearchParams(location.hash.slice(1));
  t.match(fragment.get("code"), /^[A-Za-z0-9_-]{43}$/);
  t.equal(fragment.get("state"), "state-123");
  t.equal(fragment.get("iss"), PUBLIC_BASEURL);
  const sessions = await gw.gateway.sessions.list("@alice:example.org");
  t.same(
    sessions.map((s) => s.deviceId).sort(),
    ["DEVICE1", otherDevice.device_id].sort(),
    "the older session on DEVICE1 ends only when the code is exchanged",
  );
  t.same(gw.homeserver.logouts, [], "the homeserver device was not logged out: the new login uses it");
});

t.test("a login_hint fills the username in; public_baseurl's path is the pages' path", async (t) => {
  const gw = await startOAuthGateway(t, { baseurl: "http://localhost/auth/" });
  const browser = new Browser(gw.url);
  t.equal((await browser.get(`${AUTHORIZE}?${authorizeQuery()}`)).status, 404, "not at the root");
  const form = await browser.get(`/auth${AUTHORIZE}?${authorizeQuery({ login_hint: "mxid:@alice:example.org" })}`);
  t.equal(form.status, 200);
  t.equal(inputValue(form.text, "username"), "@alice:example.org");
  t.match(form.text, /action="\/auth\/oauth2\/authorize"/);
  t.match(form.text, /href="\/auth\/oauth2\/style\.css"/);
  t.match(form.headers.getSetCookie()[0], /; Path=\/auth\/; Max-Age=600; HttpOnly; SameSite=Strict$/, "no Secure over http");
  const consent = await browser.post("/auth/oauth2/authorize", {
    request: inputValue(form.text, "request") as string,
    username: "@alice:example.org",
    password: "wonderland",
  });
  t.equal(consent.status, 200);
});

t.test("the code from the pages is exchanged at the token endpoint for a working session on the scope's device", async (t) => {
  const gw = await startOAuthGateway(t, { oauthYaml: "consent: false" });
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const reply = await signIn(browser, form.text);
  const code = new URL(reply.location as string).searchParams.get("code") as string;
  const token = await gw.request("/oauth2/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: WEB_REDIRECT,
      client_id: WEB_CLIENT,
      code_verifier: VERIFIER,
    }).toString(),
  });
  t.equal(token.status, 200, JSON.stringify(token.body));
  t.equal(token.body.scope, `openid ${UNSTABLE}api:* ${UNSTABLE}device:DEVICE1`);
  const whoami = await gw.request("/_matrix/client/v3/account/whoami", { headers: { Authorization: `Bearer ${token.body.access_token}` } });
  t.equal(whoami.status, 200);
  t.same(whoami.body, { user_id: "@alice:example.org", device_id: "DEVICE1" });
});

t.test("no server-side state: a form from one gateway instance is taken by another sharing the configuration", async (t) => {
  const first = await startOAuthGateway(t);
  const second = await startOAuthGateway(t, { store: first.store, homeserver: first.homeserver, clock: first.clock });
  const atFirst = new Browser(first.url);
  const form = await atFirst.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const atSecond = new Browser(second.url);
  for (const [name, value] of atFirst.cookies) atSecond.cookies.set(name, value);
  const consent = await signIn(atSecond, form.text);
  t.equal(consent.status, 200);
  t.match(consent.text, /name="consent"/);
  const done = await atFirst.post(AUTHORIZE, { grant: inputValue(consent.text, "grant") as string, consent: "1" });
  t.equal(done.status, 303);
  t.match(new URL(done.location as string).searchParams.get("code"), /^[A-Za-z0-9_-]{43}$/);
});
