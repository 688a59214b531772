/**
 * Every request the gateway does not answer itself, in the Matrix namespaces: find the token, check
 * it, swap it for the session's upstream credential, forward. Public endpoints pass without a token;
 * a token that is present is still checked and swapped.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { extractToken } from "../auth/extract-token.js";
import { missingToken } from "../http/errors.js";
import { compileEndpoints } from "../proxy/endpoint-pattern.js";
import type { RequestInfo, RouteContext } from "./context.js";

export function createProxiedHandler(ctx: RouteContext) {
  const { sessions, forwarder, rateLimits } = ctx;
  const publicEndpoints = compileEndpoints(ctx.config.public_endpoints);

  return async (req: IncomingMessage, res: ServerResponse, { path, address }: RequestInfo): Promise<void> => {
    const method = req.method as string;
    const { token, forwardUrl } = extractToken(req.url as string, req.headers, req.rawHeaders);
    if (token === undefined) {
      if (!publicEndpoints.matches(method, path)) throw missingToken();
      const responseHeaders = await rateLimits.unauthenticated(address, method, path);
      forwarder.forward(req, res, { url: forwardUrl, upstreamToken: undefined, clientAddress: address, responseHeaders });
      return;
    }
    const session = await sessions.authenticate(token);
    const responseHeaders = await rateLimits.authenticated(session.userId, method, path);
    forwarder.forward(req, res, {
      url: forwardUrl,
      upstreamToken: session.upstreamToken,
      sessionId: session.id,
      clientAddress: address,
      responseHeaders,
    });
  };
}
