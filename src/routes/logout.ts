/**
 * `POST PREFIX/logout` ends this session; `POST PREFIX/logout/all` every session of the user. The
 * matching upstream sessions are logged out too. Like Synapse, logout accepts an expired token.
 */
import { extractToken } from "../auth/extract-token.js";
import { looksLikeJwt } from "../auth/token-kind.js";
import { missingToken } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { logoutWithHomeserverToken } from "./homeserver-token.js";

export function createLogoutHandler(ctx: RouteContext, scope: "session" | "all"): Handler {
  const { sessions, logger } = ctx;
  return async (req, res, info) => {
    const { address } = info;
    req.resume(); // the body of a logout carries nothing
    const { token } = extractToken(req.url ?? "/", req.headers, req.rawHeaders);
    if (token === undefined) throw missingToken();
    // A homeserver token during the migration window: the homeserver's own logout.
    if (!looksLikeJwt(token) && ctx.homeserverTokens.accepts()) {
      return logoutWithHomeserverToken(ctx, res, info, token, scope === "session" ? "/logout" : "/logout/all");
    }
    const session = await sessions.authenticate(token, { allowExpired: true });
    if (scope === "session") {
      await sessions.revoke(session.id);
      logger.info({ event: "logout", user_id: session.userId, session: session.id }, "logout");
      await logoutUpstream(ctx, session.upstreamToken, "/logout", address);
    } else {
      const ended = await sessions.revokeUser(session.userId);
      logger.info({ event: "logout_all", user_id: session.userId, sessions: ended.length }, "logout of every session");
      // Any of the user's homeserver devices can ask for all of them (this one may have none: appservice mode
      // with sessions from before `upstream_identity.devices` was turned on).
      const upstreamToken = session.upstreamToken || ended.find((s) => s.upstreamToken)?.upstreamToken || "";
      await logoutUpstream(ctx, upstreamToken, "/logout/all", address);
    }
    sendJson(res, 200, {});
  };
}

/**
 * Logs an upstream session out; a failure is logged, never shown to the client (the gateway side is done).
 * `clientAddress`: the client the logout is for, as `X-Forwarded-For` (none for the gateway's own clean-ups).
 */
export async function logoutUpstream(
  ctx: Pick<RouteContext, "upstream" | "logger">,
  upstreamToken: string,
  endpoint: "/logout" | "/logout/all",
  clientAddress?: string,
): Promise<void> {
  if (!upstreamToken) return; // a session asserting its user through the appservice: no homeserver session
  try {
    const reply = await ctx.upstream.post(`/_matrix/client/v3${endpoint}`, {}, upstreamToken, clientAddress);
    // 401: the upstream session is already gone, which is what we wanted.
    if (reply.status !== 200 && reply.status !== 401) ctx.logger.warn({ status: reply.status, endpoint }, "upstream logout failed");
  } catch (error) {
    ctx.logger.warn({ err: (error as Error).message, endpoint }, "upstream logout failed");
  }
}
