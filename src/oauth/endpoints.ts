/**
 * The OAuth 2.0 API's endpoints, for the router's table of the gateway's own endpoints. Paths under
 * `public_baseurl` follow its path (a gateway published at `https://example.org/auth/` serves
 * `/auth/oauth2/token`); discovery also sits at the fixed Matrix and RFC 8414 paths.
 */
import { unrecognized } from "../http/errors.js";
import type { Handler, OwnEndpoint, RouteContext } from "../routes/context.js";
import { createAuthorizeHandlers } from "./authorize.js";
import { serveStylesheet } from "./pages/style.js";
import { createPages } from "./pages-context.js";

/** Matrix discovery (spec v1.15 and MSC2965's unstable path, which matrix-js-sdk 37 and matrix-rust-sdk call). */
export const AUTH_METADATA_PATHS = ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"];

export function oauthEndpoints(ctx: RouteContext): Map<string, OwnEndpoint> {
  const table = new Map<string, OwnEndpoint>();
  if (!ctx.config.oauth.enabled) {
    // The homeserver is not asked: with the gateway in front, its answer would describe the wrong server.
    const none: Handler = () => {
      throw unrecognized();
    };
    for (const path of AUTH_METADATA_PATHS) table.set(path, { route: "oauth", methods: { GET: none } });
    return table;
  }
  const pages = createPages(ctx);
  const authorize = createAuthorizeHandlers(pages);
  table.set(pages.authorizePath, { route: "oauth", methods: { GET: authorize.get, POST: authorize.post } });
  table.set(`${pages.site.basePath}oauth2/style.css`, { route: "oauth", methods: { GET: serveStylesheet } });
  return table;
}
