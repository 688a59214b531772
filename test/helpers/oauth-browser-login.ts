/**
 * The user's part of the authorization code flow in a real browser: open the authorization URL, type
 * the username and password into the gateway's login page, press the consent button if the gateway
 * asks, and wait until the browser lands on the client's redirect_uri. Every gateway document the
 * browser loaded on the way is recorded with its headers.
 */
import type { Browser } from "playwright-core";
import { BROWSER_WAIT_MS } from "./chromium.js";
import { ALICE, type Credentials } from "./oauth-form-login.js";

export interface DocumentSeen {
  url: string;
  status: number;
  headers: Record<string, string>;
}

export interface BrowserAuthorization {
  /** The page's URL once on the redirect_uri (with the fragment, for response_mode=fragment). */
  landed: URL;
  /** Gateway documents (navigations) the browser received, in order. */
  documents: DocumentSeen[];
  /** Whether a consent step was shown. */
  consented: boolean;
}

const LOGIN_FORM = 'form:has(input[name="password"])';
const LOGIN_SUBMIT = `${LOGIN_FORM} button[type="submit"], ${LOGIN_FORM} input[type="submit"], ${LOGIN_FORM} button:not([type])`;
const CONSENT = 'button[name="consent"], input[type="submit"][name="consent"]';

export async function authorizeInBrowser(
  browser: Browser,
  authorizationUrl: string,
  redirectUri: string,
  credentials: Credentials = ALICE,
): Promise<BrowserAuthorization> {
  const gatewayOrigin = new URL(authorizationUrl).origin;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(BROWSER_WAIT_MS);
    const pending: Promise<DocumentSeen>[] = [];
    page.on("response", (response) => {
      if (!response.request().isNavigationRequest() || !response.url().startsWith(gatewayOrigin)) return;
      pending.push(response.allHeaders().then((headers) => ({ url: response.url(), status: response.status(), headers })));
    });
    const landedOnRedirect = (url: URL) => url.href.startsWith(redirectUri);

    await page.goto(authorizationUrl, { timeout: BROWSER_WAIT_MS });
    await page.fill('input[name="username"]', credentials.username);
    await page.fill('input[name="password"]', credentials.password);
    await page.locator(LOGIN_SUBMIT).first().click();

    // Either straight back to the client, or a consent page first.
    const redirected = page.waitForURL(landedOnRedirect, { timeout: BROWSER_WAIT_MS }).then(() => "redirect" as const);
    const consentShown = page
      .locator(CONSENT)
      .first()
      .waitFor({ timeout: BROWSER_WAIT_MS })
      .then(() => "consent" as const);
    redirected.catch(() => {});
    consentShown.catch(() => {});
    const first = await Promise.race([redirected, consentShown]);
    if (first === "consent") {
      await page.locator(CONSENT).first().click();
      await redirected;
    }
    return { landed: new URL(page.url()), documents: await Promise.all(pending), consented: first === "consent" };
  } finally {
    await context.close();
  }
}
