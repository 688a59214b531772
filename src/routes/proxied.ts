/**
 * Every request the gateway does not answer itself, in the Matrix namespaces: find the token, check
 * it, swap it for the session's upstream credential, forward. Public endpoints pass without a token;
 * a token that is present is still checked and swapped.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { extractToken } from "../auth/extract-token.js";
import type { ActiveSession } from "../auth/sessions.js";
import { looksLikeJwt } from "../auth/token-kind.js";
import { missingToken } from "../http/errors.js";
import { compileEndpoints } from "../proxy/endpoint-pattern.js";
import type { RateLimitHeaders } from "../ratelimit/policies.js";
import { createUiaFence } from "./appservice-uia.js";
import type { RequestInfo, RouteContext } from "./context.js";
import { createHomeserverTokenForwarder } from "./homeserver-token.js";

/** Media uploads may be larger than other bodies (`http.max_upload_body`, like Synapse's `max_upload_size`). */
const MEDIA_UPLOADS = compileEndpoints(["POST /_matrix/media/{v1,r0,v3}/upload", "PUT /_matrix/media/{v1,r0,v3}/upload/**"]);

export function createProxiedHandler(ctx: RouteContext) {
  const { sessions, forwarder, rateLimits, identity } = ctx;
  const publicEndpoints = compileEndpoints(ctx.config.public_endpoints);
  const { max_body, max_upload_body } = ctx.config.http;
  const maxBody = (method: string, path: string) => (MEDIA_UPLOADS.matches(method, path) ? max_upload_body : max_body);
  // Appservice mode only (undefined otherwise): endpoints behind the homeserver's user-interactive auth.
  const uiaFence = createUiaFence(ctx);
  // The migration window (routes/homeserver-token.ts).
  const forwardHomeserverToken = createHomeserverTokenForwarder(ctx, maxBody);

  const forwardAs = (
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    url: string,
    session: ActiveSession,
  ): void | Promise<void> => {
    info.userId = session.userId;
    // Counted against the user, not the address: users behind one NAT do not share a cap (router gives it back).
    info.inFlightKey = rateLimits.enterInFlightUser(session.userId);
    const limits = rateLimits.authenticated(session.userId, req.method as string, info.path);
    if (limits instanceof Promise) return limits.then((headers) => forwardSession(req, res, info, url, session, headers));
    return forwardSession(req, res, info, url, session, limits);
  };

  const forwardSession = (
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    url: string,
    session: ActiveSession,
    limitHeaders: RateLimitHeaders,
  ): void | Promise<void> => {
    const fenced = uiaFence?.(req, res, info, url, session, limitHeaders);
    if (fenced !== undefined) return fenced;
    const credential = identity.forSession(session, url);
    forwarder.forward(req, res, {
      url: credential.url,
      upstreamToken: credential.token,
      sessionId: credential.sessionBound ? session.id : undefined,
      info,
      maxBodyBytes: maxBody(req.method as string, info.path),
      responseHeaders: limitHeaders,
    });
  };

  // Not async either: with the limits counted in this process, a public request is forwarded in this turn too.
  const forwardPublic = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, url: string): void | Promise<void> => {
    const limits = rateLimits.unauthenticated(info.address, req.method as string, info.path);
    if (limits instanceof Promise) return limits.then((headers) => forwardAnonymous(req, res, info, url, headers));
    forwardAnonymous(req, res, info, url, limits);
  };

  const forwardAnonymous = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, url: string, limitHeaders: RateLimitHeaders) => {
    const method = req.method as string;
    forwarder.forward(req, res, {
      url: identity.anonymous(url),
      upstreamToken: undefined,
      info,
      maxBodyBytes: maxBody(method, info.path),
      responseHeaders: limitHeaders,
    });
  };

  // Not async: with a cached session and no limit to count, the request reaches the forwarder in this
  // same turn of the event loop, without a promise per step.
  return (req: IncomingMessage, res: ServerResponse, info: RequestInfo): void | Promise<void> => {
    const { token, forwardUrl } = extractToken(req.url as string, req.headers, req.rawHeaders);
    if (token === undefined) {
      if (!publicEndpoints.matches(req.method as string, info.path)) {
        info.route = "authenticated"; // a protected route, refused: counted as one
        throw missingToken();
      }
      info.route = "public";
      info.inFlightKey = rateLimits.enterInFlight(info.address);
      return forwardPublic(req, res, info, forwardUrl);
    }
    info.route = "authenticated";
    // The window is asked first: outside it (the usual case) the token's shape is never scanned.
    if (ctx.homeserverTokens.accepts() && !looksLikeJwt(token)) return forwardHomeserverToken(req, res, info, forwardUrl, token);
    const session = sessions.authenticate(token);
    if (session instanceof Promise) return session.then((found) => forwardAs(req, res, info, forwardUrl, found));
    return forwardAs(req, res, info, forwardUrl, session);
  };
}
