/**
 * Every request the gateway does not answer itself, in the Matrix namespaces: find the token, check
 * it, swap it for the session's upstream credential, forward. Public endpoints pass without a token;
 * a token that is present is still checked and swapped.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { extractToken } from "../auth/extract-token.js";
import { clientAddress } from "../http/client-address.js";
import { missingToken } from "../http/errors.js";
import { compileEndpoints } from "../proxy/endpoint-pattern.js";
import type { RouteContext } from "./context.js";

export function createProxiedHandler(ctx: RouteContext) {
  const { sessions, forwarder, trusted } = ctx;
  const publicEndpoints = compileEndpoints(ctx.config.public_endpoints);

  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const { token, forwardUrl } = extractToken(req.url as string, req.headers, req.rawHeaders);
    const address = clientAddress(req, trusted);
    if (token === undefined) {
      if (!publicEndpoints.matches(req.method as string, path)) throw missingToken();
      forwarder.forward(req, res, { url: forwardUrl, upstreamToken: undefined, clientAddress: address });
      return;
    }
    const session = await sessions.authenticate(token);
    forwarder.forward(req, res, { url: forwardUrl, upstreamToken: session.upstreamToken, sessionId: session.id, clientAddress: address });
  };
}
