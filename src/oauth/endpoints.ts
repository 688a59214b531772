/**
 * The OAuth 2.0 API's endpoints, for the router's table of the gateway's own endpoints: one line each,
 * path → handlers. Paths under `public_baseurl` follow its path (`urls.ts`); discovery also sits at the
 * fixed Matrix and RFC 8414 paths (`metadata.ts`). The router answers their CORS preflights.
 */
import { unrecognized } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, OwnEndpoint, RouteContext } from "../routes/context.js";
import { createAccountHandlers } from "./account.js";
import { createAuthorizeHandlers } from "./authorize.js";
import { idTokenJwks } from "./id-token.js";
import { asOAuthRequestError } from "./json-handler.js";
import { AUTH_METADATA_PATHS, createMetadataHandler, metadataPaths } from "./metadata.js";
import { asPageError, pageHandler } from "./page-handler.js";
import { stylesheetPath } from "./pages/html.js";
import { serveStylesheet } from "./pages/style.js";
import { createPages } from "./pages-context.js";
import { createRegistrationHandler } from "./registration.js";
import { createRevocationHandler } from "./revocation.js";
import { createTokenHandler } from "./token.js";
import { oauthUrls, pathOf } from "./urls.js";

export function oauthEndpoints(ctx: RouteContext): Map<string, OwnEndpoint> {
  const table = new Map<string, OwnEndpoint>();
  const { public_baseurl, oauth } = ctx.config;
  if (!oauth.enabled || public_baseurl === undefined || oauth.signing_key === undefined) {
    // The homeserver is not asked: with the gateway in front, its answer would describe the wrong server.
    const none: Handler = () => {
      throw unrecognized();
    };
    for (const path of AUTH_METADATA_PATHS) table.set(path, { route: "oauth", methods: { GET: none } });
    return table;
  }
  const urls = oauthUrls(public_baseurl);
  const metadata = createMetadataHandler(urls);
  const jwks = idTokenJwks(oauth.signing_key);
  const keys: Handler = (_req, res) => sendJson(res, 200, jwks, { "Cache-Control": "public, max-age=60" });

  for (const path of metadataPaths(urls)) table.set(path, { route: "oauth", methods: { GET: metadata } });
  table.set(pathOf(urls.jwks), { route: "oauth", methods: { GET: keys } });
  // The JSON endpoints clients POST to: every error RFC 6749 JSON, the router's own too.
  const json = (post: Handler): OwnEndpoint => ({ route: "oauth", methods: { POST: post }, translateError: asOAuthRequestError });
  table.set(pathOf(urls.registration), json(createRegistrationHandler(ctx)));
  table.set(pathOf(urls.token), json(createTokenHandler(ctx)));
  table.set(pathOf(urls.revocation), json(createRevocationHandler(ctx)));
  // The browser pages (authorization, account) and their stylesheet: every error a page, the router's own too.
  const pages = createPages(ctx, urls);
  const page = (get: Handler, post?: Handler): OwnEndpoint => ({
    route: "oauth",
    methods: post ? { GET: pageHandler(get, ctx.logger), POST: pageHandler(post, ctx.logger) } : { GET: pageHandler(get, ctx.logger) },
    translateError: asPageError,
  });
  const authorize = createAuthorizeHandlers(pages);
  const account = createAccountHandlers(pages);
  table.set(pathOf(urls.authorization), page(authorize.get, authorize.post));
  table.set(pathOf(urls.account), page(account.get, account.post));
  table.set(stylesheetPath(pages.site), page(serveStylesheet));
  return table;
}
