/**
 * Every request the gateway does not answer itself, in the Matrix namespaces: find the token, check
 * it, swap it for the session's upstream credential, forward. Public endpoints pass without a token;
 * a token that is present is still checked and swapped.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { extractToken } from "../auth/extract-token.js";
import { missingToken } from "../http/errors.js";
import { setHeaders } from "../http/respond.js";
import { compileEndpoints } from "../proxy/endpoint-pattern.js";
import type { RequestInfo, RouteContext } from "./context.js";

/** Media uploads may be larger than other bodies (`http.max_upload_body`, like Synapse's `max_upload_size`). */
const MEDIA_UPLOADS = compileEndpoints(["POST /_matrix/media/{v1,r0,v3}/upload", "PUT /_matrix/media/{v1,r0,v3}/upload/**"]);

export function createProxiedHandler(ctx: RouteContext) {
  const { sessions, forwarder, rateLimits, identity } = ctx;
  const publicEndpoints = compileEndpoints(ctx.config.public_endpoints);
  const { max_body, max_upload_body } = ctx.config.http;
  const maxBody = (method: string, path: string) => (MEDIA_UPLOADS.matches(method, path) ? max_upload_body : max_body);

  return async (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> => {
    const method = req.method as string;
    const { token, forwardUrl } = extractToken(req.url as string, req.headers, req.rawHeaders);
    if (token === undefined) {
      if (!publicEndpoints.matches(method, info.path)) {
        info.route = "authenticated"; // a protected route, refused: counted as one
        throw missingToken();
      }
      info.route = "public";
      setHeaders(res, await rateLimits.unauthenticated(info.address, method, info.path));
      const url = identity.anonymous(forwardUrl);
      forwarder.forward(req, res, { url, upstreamToken: undefined, info, maxBodyBytes: maxBody(method, info.path) });
      return;
    }
    info.route = "authenticated";
    const session = await sessions.authenticate(token);
    info.userId = session.userId;
    setHeaders(res, await rateLimits.authenticated(session.userId, method, info.path));
    const credential = identity.forSession(session, forwardUrl);
    forwarder.forward(req, res, {
      url: credential.url,
      upstreamToken: credential.token,
      sessionId: credential.sessionBound ? session.id : undefined,
      info,
      maxBodyBytes: maxBody(method, info.path),
    });
  };
}
