/**
 * `GET|POST P account/` over plain HTTP: sign-in with the pages' form, the sessions list, MSC4191 actions
 * (list, view, delete with the password again), CSRF on every form, sign-out.
 */
import t, { type Test } from "tap";
import { alertText, Browser, inputValue, type OAuthGateway, STABLE, startOAuthGateway, WEB_CLIENT } from "../helpers/oauth-pages.js";

const ACCOUNT = "/account/";
const ALICE = "@alice:example.org";

/** A browser signed in on the account page (following the 303 like a browser). */
async function signedIn(t: Test, gw: OAuthGateway, query = "") {
  const browser = new Browser(gw.url);
  const form = await browser.get(`${ACCOUNT}${query}`);
  const reply = await browser.post(ACCOUNT, {
    request: inputValue(form.text, "request") as string,
    username: "alice",
    password: "wonderland",
  });
  t.equal(reply.status, 303, "signed in");
  return { browser, reply };
}

/** A password session and an OAuth one for alice. */
async function twoSessions(gw: OAuthGateway) {
  const password = await gw.login();
  const hs = await fetch(`${gw.homeserver.url}/_matrix/client/v3/login`, {
    method: "POST",
    body: JSON.stringify({ type: "m.login.password", user: "alice", password: "wonderland", device_id: "OAUTHDEV" }),
  }).then((r) => r.json());
  gw.clock.advance(60_000);
  const oauth = await gw.gateway.sessions.start({
    userId: ALICE,
    deviceId: "OAUTHDEV",
    upstreamToken: hs.access_token,
    refreshable: true,
    oauth: { clientId: WEB_CLIENT, scope: `${STABLE}api:* ${STABLE}device:OAUTHDEV` },
  });
  return { password, oauth, hsToken: hs.access_token as string };
}

t.test("signing in: the form, a wrong password, then the session cookie", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(ACCOUNT);
  t.equal(form.status, 200);
  t.equal(form.headers.get("x-frame-options"), "DENY");
  t.equal(form.headers.get("cache-control"), "no-store");
  t.equal(form.headers.get("referrer-policy"), "no-referrer");
  t.match(form.headers.get("content-security-policy"), /frame-ancestors 'none'.*|form-action 'self'/);
  t.match(form.headers.get("content-security-policy"), /form-action 'self'/);
  t.match(form.text, /<h1>Sign in to manage your account on example\.org<\/h1>/);
  t.match(form.text, /autocomplete="username"/);
  t.match(form.text, /action="\/account\/"/);

  const wrong = await browser.post(ACCOUNT, { request: inputValue(form.text, "request") as string, username: "alice", password: "nope" });
  t.equal(wrong.status, 200);
  t.equal(alertText(wrong.text), "Wrong username or password.");
  t.equal(inputValue(wrong.text, "username"), "alice");
  t.equal(wrong.headers.getSetCookie().length, 0);

  const right = await browser.post(ACCOUNT, {
    request: inputValue(form.text, "request") as string,
    username: "alice",
    password: "wonderland",
  });
  t.equal(right.status, 303);
  t.equal(right.location, "/account/");
  t.match(right.headers.getSetCookie()[0], /^mag_account=[^;]+; Path=\/account\/; Max-Age=600; HttpOnly; SameSite=Strict; Secure$/);
  t.equal(gw.homeserver.logouts.length, 1, "the homeserver session of the password check is not kept");
  t.same(await gw.gateway.sessions.list(ALICE), [], "signing in here starts no gateway session");
  t.match(
    gw.logs.find((line) => line.event === "login_failed"),
    { user_id: ALICE },
  );
});

t.test("the sessions list: device, client, created, last refresh", async (t) => {
  const gw = await startOAuthGateway(t);
  const { password } = await twoSessions(gw);
  gw.clock.advance(60_000);
  const refreshed = await gw.request("/_matrix/client/v3/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: password.refresh_token }),
  });
  t.equal(refreshed.status, 200);
  const { browser } = await signedIn(t, gw);
  const list = await browser.get(ACCOUNT);
  t.equal(list.status, 200);
  const rows = [
    ...list.text.matchAll(
      /<tr>\s*<td class="device"><code>([^<]+)<\/code><\/td>\s*<td>([^<]+)<\/td>\s*<td class="time">([^<]+)<\/td>\s*<td class="time">([^<]+)<\/td>/g,
    ),
  ].map((m) => m.slice(1));
  const created = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  const start = gw.clock.now() - 120_000;
  t.same(rows, [
    ["OAUTHDEV", "Example Chat", created(start + 60_000), "never"],
    [password.device_id, "Password login", created(start), created(start + 120_000)],
  ]);
  t.match(list.text, /Signed in as <strong>@alice:example\.org<\/strong>/);
  t.match(list.text, /href="\/account\/\?action=org\.matrix\.device_delete&#38;device_id=OAUTHDEV"/);
  for (const action of ["org.matrix.devices_list", "org.matrix.sessions_list", "something.else"]) {
    const other = await browser.get(`${ACCOUNT}?action=${action}`);
    t.equal(other.status, 200, action);
    t.match(other.text, /<h1>Your sessions<\/h1>/, action);
  }
});

t.test("device_view and session_view; an unknown device is a 404 page", async (t) => {
  const gw = await startOAuthGateway(t);
  await twoSessions(gw);
  const { browser } = await signedIn(t, gw);
  for (const action of ["org.matrix.device_view", "org.matrix.session_view"]) {
    const view = await browser.get(`${ACCOUNT}?action=${action}&device_id=OAUTHDEV`);
    t.equal(view.status, 200, action);
    t.match(view.text, /<h1>Device <code>OAUTHDEV<\/code><\/h1>/);
    t.match(view.text, /<dt>Application<\/dt><dd>Example Chat<\/dd>/);
  }
  const missing = await browser.get(`${ACCOUNT}?action=org.matrix.device_view&device_id=NOPE`);
  t.equal(missing.status, 404);
  t.match(missing.text, /No such device/);
});

t.test("a deep link survives the sign-in", async (t) => {
  const gw = await startOAuthGateway(t);
  await twoSessions(gw);
  const { browser, reply } = await signedIn(t, gw, "?action=org.matrix.session_end&device_id=OAUTHDEV");
  t.equal(reply.location, "/account/?action=org.matrix.device_delete&device_id=OAUTHDEV");
  const confirm = await browser.get(reply.location as string);
  t.equal(confirm.status, 200);
  t.match(confirm.text, /<h1>Sign out device <code>OAUTHDEV<\/code>\?<\/h1>/);
});

t.test("device_delete: the password again, then the device's sessions end and the homeserver device is logged out", async (t) => {
  const gw = await startOAuthGateway(t);
  const { oauth, password, hsToken } = await twoSessions(gw);
  const { browser } = await signedIn(t, gw);
  const confirm = await browser.get(`${ACCOUNT}?action=org.matrix.device_delete&device_id=OAUTHDEV`);
  t.equal(confirm.status, 200);
  t.match(confirm.text, /autocomplete="current-password"/);
  const fields = { op: "delete", token: inputValue(confirm.text, "token") as string, device_id: "OAUTHDEV" };

  const wrong = await browser.post(ACCOUNT, { ...fields, password: "nope" });
  t.equal(wrong.status, 200);
  t.equal(alertText(wrong.text), "Wrong username or password.");
  t.equal((await gw.gateway.sessions.list(ALICE)).length, 2, "nothing ended");

  const logoutsBefore = gw.homeserver.logouts.length;
  const done = await browser.post(ACCOUNT, { ...fields, password: "wonderland" });
  t.equal(done.status, 303);
  t.equal(done.location, "/account/?action=org.matrix.devices_list&ended=OAUTHDEV");
  t.same(
    (await gw.gateway.sessions.list(ALICE)).map((s) => s.deviceId),
    [password.device_id],
  );
  const whoami = await gw.request("/_matrix/client/v3/account/whoami", { headers: { Authorization: `Bearer ${oauth.accessToken}` } });
  t.equal(whoami.status, 401, "the gateway session is revoked");
  t.ok(
    gw.homeserver.logouts.slice(logoutsBefore).some((logout) => logout.token === hsToken && logout.path === "/logout"),
    "the homeserver device is logged out",
  );
  t.match(
    gw.logs.find((line) => line.event === "account_device_signed_out"),
    { user_id: ALICE, device_id: "OAUTHDEV", sessions: 1 },
  );
  const list = await browser.get(done.location as string);
  t.match(list.text, /Device <code>OAUTHDEV<\/code> was signed out\./);
});

t.test("CSRF: forms need this session's token and cookie", async (t) => {
  const gw = await startOAuthGateway(t);
  await twoSessions(gw);
  const { browser } = await signedIn(t, gw);
  const { browser: other } = await signedIn(t, gw);
  const confirm = await browser.get(`${ACCOUNT}?action=org.matrix.device_delete&device_id=OAUTHDEV`);
  const token = inputValue(confirm.text, "token") as string;
  const fields = { op: "delete", device_id: "OAUTHDEV", password: "wonderland" };
  const cases: [string, Browser, Record<string, string>][] = [
    ["no token", browser, fields],
    ["another session's token", other, { ...fields, token }],
    ["no cookie", new Browser(gw.url), { ...fields, token }],
    [
      "a login form's seal as a token",
      browser,
      { ...fields, token: inputValue((await new Browser(gw.url).get(ACCOUNT)).text, "request") as string },
    ],
  ];
  for (const [name, who, form] of cases) {
    const reply = await who.post(ACCOUNT, form);
    t.equal(reply.status, 403, name);
    t.match(reply.text, /This page has expired/, name);
  }
  t.equal((await gw.gateway.sessions.list(ALICE)).length, 2, "nothing ended");
  t.equal((await browser.post(ACCOUNT, { ...fields, token: "" })).status, 403);
  const noLogin = await new Browser(gw.url).post(ACCOUNT, { request: "x", username: "alice", password: "wonderland" });
  t.equal(noLogin.status, 403, "a sign-in without this browser's form");
});

t.test("sign-out clears the cookie; the session also ends after browser_session_ttl", async (t) => {
  const gw = await startOAuthGateway(t);
  const { browser } = await signedIn(t, gw);
  const list = await browser.get(ACCOUNT);
  const out = await browser.post(ACCOUNT, { op: "signout", token: inputValue(list.text, "token") as string });
  t.equal(out.status, 303);
  t.equal(out.location, "/account/");
  t.match(out.headers.getSetCookie()[0], /^mag_account=; Path=\/account\/; Max-Age=0; HttpOnly; SameSite=Strict; Secure$/);
  t.match((await browser.get(ACCOUNT)).text, /Sign in to manage your account/);

  const { browser: again } = await signedIn(t, gw);
  t.match((await again.get(ACCOUNT)).text, /<h1>Your sessions<\/h1>/);
  gw.clock.advance(10 * 60_000 + 1000);
  t.match((await again.get(ACCOUNT)).text, /Sign in to manage your account/, "expired");
});
