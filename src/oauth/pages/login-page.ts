/**
 * The sign-in form, shared by the authorization endpoint and the account page. Labelled fields with the
 * autocomplete tokens password managers look for (HTML §4.10.18.7), the sealed request in a hidden field.
 */
import { type Html, html, type PageSite, renderPage } from "./html.js";

export interface LoginPage {
  /** Where the form posts. */
  action: string;
  heading: Html | string;
  /** A line under the heading (who is asking), if any. */
  lede?: Html | string;
  /** The sealed state the POST needs (authorization request, account action). */
  sealed: string;
  username?: string;
  /** What went wrong with the last attempt. */
  notice?: string;
}

export function loginPage(site: PageSite, page: LoginPage): string {
  return renderPage(
    site,
    "Sign in",
    html`<h1>${page.heading}</h1>
${page.lede ? html`<p class="lede">${page.lede}</p>` : ""}
${page.notice ? html`<p class="notice error" role="alert">${page.notice}</p>` : ""}
<form method="post" action="${page.action}">
<input type="hidden" name="request" value="${page.sealed}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${page.username ?? ""}"${page.username ? "" : html` autofocus`}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${page.username ? html` autofocus` : ""}>
<button type="submit" class="primary block">Sign in</button>
</form>
<p class="fine">You can use your username (like <code>alice</code>) or your full Matrix ID (like <code>@alice:${site.serverName}</code>).</p>`,
  );
}
