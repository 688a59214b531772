/**
 * Every HTML page of the gateway — login, wrong password, consent, error, account — refuses to be
 * framed (X-Frame-Options: DENY or CSP `frame-ancestors 'none'`: clickjacking, RFC 6749 §10.13) and
 * to be cached (Cache-Control: no-store: it carries a CSRF token and a sealed request), and its forms
 * carry a CSRF token: a login posted without the page's hidden fields gets no code.
 */
import t, { type Test } from "tap";
import { formBody, parseForms } from "../helpers/html-form.js";
import { ALICE, authorizationRequest, authorizeWithForms, type PageSeen } from "../helpers/oauth-form-login.js";
import { matrixScope, registerLoopbackClient, startOAuthGateway } from "../helpers/oauth-gateway.js";

const REDIRECT_URI = "http://127.0.0.1:45789/callback";

function checkHeaders(t: Test, page: { status: number; headers: Headers }, what: string) {
  const frameOptions = page.headers.get("x-frame-options");
  const csp = page.headers.get("content-security-policy") ?? "";
  t.ok(frameOptions?.toUpperCase() === "DENY" || /frame-ancestors\s+'none'/.test(csp), `${what}: cannot be framed`);
  t.match(page.headers.get("cache-control") ?? "", /no-store/, `${what}: not cached`);
}

async function exchange(method: string, url: string, body?: URLSearchParams, cookie?: string): Promise<PageSeen> {
  const headers: Record<string, string> = { Accept: "text/html" };
  if (body) headers["Content-Type"] = "application/x-www-form-urlencoded";
  if (cookie) headers.Cookie = cookie;
  const response = await fetch(url, { method, headers, body, redirect: "manual" });
  return { method, url, status: response.status, headers: response.headers, body: await response.text() };
}

const cookiesOf = (page: PageSeen) =>
  page.headers
    .getSetCookie()
    .map((line) => line.split(";", 1)[0])
    .join("; ");

t.test("login, consent, error and account pages cannot be framed or cached", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);

  const { pages } = await authorizeWithForms(authorizationRequest(gw.issuer, clientId, REDIRECT_URI, matrixScope("HEADERS1")).url);
  const html = pages.filter((p) => p.status === 200);
  t.ok(html.length >= 1, "the flow showed at least the login page");
  for (const page of html) checkHeaders(t, page, `${page.method} ${new URL(page.url).pathname} (${page.status})`);
  for (const page of pages.filter((p) => p.status === 303)) checkHeaders(t, page, `the redirect answering ${page.method}`);

  const wrong = await exchange("GET", authorizationRequest(gw.issuer, clientId, REDIRECT_URI, matrixScope("HEADERS2")).url);
  const form = parseForms(wrong.body).find((f) => f.fields.some(([name]) => name === "password"));
  t.ok(form, "the login page has a form with a password field");
  if (!form) return;
  const action = new URL(form.action || wrong.url, wrong.url).href;
  const again = await exchange(
    "POST",
    action,
    formBody(form, { username: "alice", password: "not-her-password" }, form.buttons[0]),
    cookiesOf(wrong),
  );
  t.equal(again.status, 200, "a wrong password shows the form again");
  t.equal(again.headers.get("location"), null, "without redirecting");
  t.match(again.body, /name="password"/);
  checkHeaders(t, again, "the wrong-password page");

  const errorPage = await exchange("GET", authorizationRequest(gw.issuer, "no-such-client", REDIRECT_URI, matrixScope("HEADERS3")).url);
  checkHeaders(t, errorPage, "the unknown-client error page");

  const account = await exchange("GET", new URL("account/", gw.issuer).href);
  t.equal(account.status, 200, "the account page answers");
  checkHeaders(t, account, "the account page");
});

t.test("a login form posted without its CSRF token or binding cookie is refused", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw);
  const page = await exchange("GET", authorizationRequest(gw.issuer, clientId, REDIRECT_URI, matrixScope("CSRF1")).url);
  const form = parseForms(page.body).find((f) => f.fields.some(([name]) => name === "password"));
  t.ok(form, "the login page has a form");
  if (!form) return;
  const hidden = form.fields.filter(([name]) => name !== "username" && name !== "password");
  t.ok(hidden.length > 0, "the form carries hidden fields (CSRF token, request)");
  const action = new URL(form.action || page.url, page.url).href;
  const cookie = cookiesOf(page);
  // A forger's page cannot read the token: without the hidden fields the form is refused before the
  // password is checked (no homeserver login), and no code is issued.
  const blanks = Object.fromEntries(hidden.map(([name]) => [name, ""]));
  const blanked = await exchange("POST", action, formBody(form, { ...blanks, ...ALICE }, form.buttons[0]), cookie);
  t.ok(blanked.status >= 400 && blanked.status < 500, `without the hidden fields: refused (got ${blanked.status})`);
  t.notMatch(blanked.headers.get("location") ?? "", /[?&#]code=/, "no code");
  t.same(gw.homeserver.logins, [], "and the password was not even checked");
  // When the page binds its form to a cookie, the same form posted without that cookie (another browser) is refused too.
  if (cookie) {
    const cookieless = await exchange("POST", action, formBody(form, { ...ALICE }, form.buttons[0]));
    t.ok(cookieless.status >= 400 && cookieless.status < 500, `without the page's cookie: refused (got ${cookieless.status})`);
    t.notMatch(cookieless.headers.get("location") ?? "", /[?&#]code=/, "no code");
    t.same(gw.homeserver.logins, [], "and the password was not checked");
  }
  // The same form with its fields and cookie does log in: the refusals above were the token's doing.
  const genuine = await exchange("POST", action, formBody(form, { ...ALICE }, form.buttons[0]), cookie);
  t.ok(genuine.status === 200 || genuine.status === 303, `with its fields and cookie the form goes on (got ${genuine.status})`);
  t.match(gw.homeserver.logins, [{ user: "alice", ok: true }], "and the password was checked");
});
