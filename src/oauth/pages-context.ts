/** What the browser pages share, built once per runtime from the configuration. */
import type { RouteContext } from "../routes/context.js";
import type { CookieScope } from "./cookies.js";
import type { PageSite } from "./pages/html.js";
import { createSealer, type Sealer } from "./seal.js";
import { type OAuthUrls, pathOf } from "./urls.js";

export interface Pages {
  ctx: RouteContext;
  site: PageSite;
  sealer: Sealer;
  cookies: CookieScope;
  /** RFC 9207 `iss` of the authorization responses: public_baseurl, exactly. */
  issuer: string;
  /** `oauth.browser_session_ttl`: how long a form, a consent step or an account-page sign-in lasts. */
  ttlMs: number;
  authorizePath: string;
  accountPath: string;
}

/** The path of public_baseurl ("/" without one). */
export function basePathOf(ctx: RouteContext): string {
  return ctx.config.public_baseurl ? new URL(ctx.config.public_baseurl).pathname : "/";
}

export function createPages(ctx: RouteContext, urls: OAuthUrls): Pages {
  const basePath = basePathOf(ctx);
  const issuer = urls.issuer;
  return {
    ctx,
    site: { basePath, serverName: ctx.config.server_name },
    sealer: createSealer(ctx.config.store.encryption_key, ctx.clock),
    cookies: { path: basePath, secure: issuer.startsWith("https:") },
    issuer,
    ttlMs: ctx.config.oauth.browser_session_ttl,
    authorizePath: pathOf(urls.authorization),
    accountPath: pathOf(urls.account),
  };
}
