/**
 * The consent step (spec v1.15 "Authorization code grant"): who is asking (the client's name and site), where
 * the answer goes (the redirect URI's host), what it gets, and two buttons; the one that grants is `consent`.
 */
import { html, type PageSite, renderPage } from "./html.js";

export interface ConsentPage {
  action: string;
  sealed: string;
  userId: string;
  clientName: string;
  /** The host of client_uri, if registered. */
  clientHost: string | undefined;
  /** Where the browser goes next: the redirect URI's host, or the app's scheme. */
  redirectTarget: string;
  deviceId: string;
  openid: boolean;
}

export function consentPage(site: PageSite, page: ConsentPage): string {
  return renderPage(
    site,
    "Allow access",
    html`<h1>Allow <span class="name">${page.clientName}</span> to use your account?</h1>
<p class="lede">Signed in as <strong>${page.userId}</strong></p>
<dl class="facts">
<dt>Application</dt><dd>${page.clientName}</dd>
<dt>Website</dt><dd>${page.clientHost ?? "not given"}</dd>
<dt>Sends you back to</dt><dd>${page.redirectTarget}</dd>
<dt>Device</dt><dd><code>${page.deviceId}</code></dd>
</dl>
<p>If you allow it, this application can:</p>
<ul class="grants">
<li>use your account on ${site.serverName} as a new session: read and send messages, join and leave rooms, change your settings</li>
${page.openid ? html`<li>see your Matrix ID</li>` : ""}
</ul>
<p class="fine">You can end this session at any time from your account page.</p>
<form method="post" action="${page.action}" class="buttons">
<input type="hidden" name="grant" value="${page.sealed}">
<button type="submit" name="cancel" value="1" class="secondary">Cancel</button>
<button type="submit" name="consent" value="1" class="primary">Allow</button>
</form>`,
  );
}
