/**
 * The OAuth pages in a real browser: Debian's headless Chromium (playwright-core) opens the authorization
 * URL, signs in, allows access on the consent page and lands on the client's redirect URI with a code; then
 * signs in on the account page and sees the session. Proves what plain HTTP cannot: that Chromium sends the
 * SameSite=Strict binding cookie with the form's POST, and that the CSP lets it follow the 303 to the client
 * (another origin) after the POST. Screenshots of each page go to .tap/screenshots/.
 */
import { mkdirSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import t, { type Test } from "tap";
import { hashAuthorizationCode } from "../../src/oauth/code.js";
import { hasChromium, launchChromium, NO_CHROMIUM, BROWSER_WAIT_MS as WAIT_MS } from "../helpers/chromium.js";
import { authorizeQuery, NATIVE_CLIENT, startOAuthGateway } from "../helpers/oauth-pages.js";

const SHOTS = ".tap/screenshots";

/** The client's redirect target: another origin, a page that says it got the answer. */
async function startClient(t: Test): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>client</title><p>back at the client</p>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
}

if (!hasChromium()) {
  t.plan(0, NO_CHROMIUM);
} else {
  t.test("Chromium signs in, consents, lands on the client with a code, then manages its sessions", { timeout: 4 * WAIT_MS }, async (t) => {
    mkdirSync(SHOTS, { recursive: true });
    const gw = await startOAuthGateway(t, { baseurl: "http://127.0.0.1/" });
    const redirectUri = await startClient(t);
    const browser = await launchChromium(t);
    const page = await (await browser.newContext({ viewport: { width: 900, height: 760 }, deviceScaleFactor: 1 })).newPage();
    page.setDefaultTimeout(WAIT_MS);

    await page.goto(`${gw.url}/oauth2/authorize?${authorizeQuery({ client_id: NATIVE_CLIENT, redirect_uri: redirectUri })}`);
    t.equal(await page.locator("h1").textContent(), "Sign in to example.org");
    await page.fill('input[name="username"]', "alice");
    await page.fill('input[name="password"]', "wrong password");
    await page.click('button[type="submit"]');
    await page.waitForSelector('[role="alert"]');
    t.equal(await page.locator('[role="alert"]').textContent(), "Wrong username or password.");
    t.equal(await page.inputValue('input[name="username"]'), "alice", "the username is kept");
    await page.screenshot({ path: `${SHOTS}/oauth-login-wrong-password.png` });

    await page.fill('input[name="password"]', "wonderland");
    await page.screenshot({ path: `${SHOTS}/oauth-login.png` });
    await page.click('button[type="submit"]');
    await page.waitForSelector('button[name="consent"]');
    t.match(await page.locator("h1").textContent(), /Allow native\.example\.net to use your account\?/);
    await page.screenshot({ path: `${SHOTS}/oauth-consent.png` });

    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[name="consent"]')]);
    const landed = new URL(page.url());
    t.equal(`${landed.origin}${landed.pathname}`, redirectUri);
    t.equal(landed.searchParams.get("state"), "state-123");
    t.equal(landed.searchParams.get("iss"), "http://127.0.0.1/");
    const code = landed.searchParams.get("code") as string;
    const stored = await gw.store.takeCode(hashAuthorizationCode(code), gw.clock.now());
    t.equal(stored?.code.userId, "@alice:example.org", "the code in the browser's URL is the stored one");
    t.equal(stored?.code.redirectUri, redirectUri, "with the port the app listened on");

    // The account page, with a session to show (the code was taken above: start it as the token endpoint would).
    await gw.gateway.sessions.start({
      id: stored?.code.sessionId,
      userId: "@alice:example.org",
      deviceId: "DEVICE1",
      upstreamToken: stored?.code.upstreamToken ?? "",
      refreshable: true,
      oauth: { clientId: NATIVE_CLIENT, scope: stored?.code.scope ?? "" },
    });
    await gw.login();
    await page.goto(`${gw.url}/account/?action=org.matrix.devices_list`);
    await page.fill('input[name="username"]', "alice");
    await page.fill('input[name="password"]', "wonderland");
    await page.click('button[type="submit"]');
    await page.waitForSelector("table");
    t.equal(await page.locator("tbody tr").count(), 2);
    await page.screenshot({ path: `${SHOTS}/account-sessions.png` });
    await page.click('tr:has-text("DEVICE1") >> text=Sign out');
    await page.waitForSelector('input[name="password"]');
    await page.screenshot({ path: `${SHOTS}/account-confirm.png` });
    await page.fill('input[name="password"]', "wonderland");
    await page.click('button[type="submit"]');
    await page.waitForSelector('[role="status"]');
    t.equal(await page.locator("tbody tr").count(), 1, "the device's session ended");
    t.equal((await gw.gateway.sessions.list("@alice:example.org")).length, 1);
  });
}
