/**
 * Requests carrying a homeserver token during the migration window (upstream/homeserver-tokens.ts): proxied
 * unchanged, as the user the homeserver names, under every per-user limit and the per-user in-flight cap;
 * `POST …/logout` and `…/logout/all` go to the homeserver's own logout. Such a token never reaches any other
 * endpoint the gateway owns (login, refresh and registration do not read it; refresh refuses it as unknown).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../http/respond.js";
import type { RequestInfo, RouteContext } from "./context.js";

const WHOAMI = "/_matrix/client/v3/account/whoami";

export function createHomeserverTokenForwarder(ctx: RouteContext, maxBody: (method: string, path: string) => number) {
  const { homeserverTokens, rateLimits, forwarder, metrics } = ctx;
  return async (req: IncomingMessage, res: ServerResponse, info: RequestInfo, url: string, token: string): Promise<void> => {
    let userId: string;
    try {
      // Until the homeserver has vouched for it, the token is no credential: its check counts against the
      // address like any request without a token (`public.per_address`), so random tokens cannot flood whoami.
      userId = await homeserverTokens.userOf(token, info.address, () => rateLimits.unauthenticated(info.address, "GET", WHOAMI));
    } catch (error) {
      metrics.homeserverTokenRequests.inc({ outcome: "refused" });
      throw error;
    }
    info.userId = userId;
    info.inFlightKey = rateLimits.enterInFlightUser(userId);
    const method = req.method as string;
    const limitHeaders = await rateLimits.authenticated(userId, method, info.path);
    metrics.homeserverTokenRequests.inc({ outcome: "proxied" });
    // No gateway session: the homeserver's 401 for this token is passed on as it is, and ends nothing here.
    forwarder.forward(req, res, {
      url,
      upstreamToken: token,
      info,
      maxBodyBytes: maxBody(method, info.path),
      responseHeaders: limitHeaders,
    });
  };
}

/** `POST …/logout` or `…/logout/all` with a homeserver token: the homeserver's own logout, its answer relayed. */
export async function logoutWithHomeserverToken(
  ctx: RouteContext,
  res: ServerResponse,
  info: RequestInfo,
  token: string,
  endpoint: "/logout" | "/logout/all",
): Promise<void> {
  const userId = await ctx.homeserverTokens.userOf(token, info.address, () => ctx.rateLimits.unauthenticated(info.address, "GET", WHOAMI));
  info.userId = userId;
  const reply = await ctx.upstream.post(`/_matrix/client/v3${endpoint}`, {}, token, info.address);
  ctx.homeserverTokens.forget(token);
  ctx.metrics.homeserverTokenRequests.inc({ outcome: "logout" });
  ctx.logger.info({ event: "homeserver_token_logout", user_id: userId, endpoint, status: reply.status }, "homeserver token logged out");
  sendJson(res, reply.status, reply.body);
}
