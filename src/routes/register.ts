/**
 * `POST PREFIX/register`. With `registration.enabled` (the default with session_token identity) the
 * registration goes to the homeserver and, when it logs the new user in, its answer is wrapped like a
 * login: the gateway keeps the homeserver's token and returns its own access and refresh tokens.
 * User-interactive auth steps (401 with flows) and `inhibit_login` answers pass through unchanged.
 * Otherwise registration is refused with 403 M_FORBIDDEN. Either way it is rate-limited per address.
 */
import { readJsonBody } from "../http/body.js";
import { badJson, forbidden, MatrixError, notJsonObject, upstreamFailed } from "../http/errors.js";
import { paramValues, withoutParams } from "../http/query.js";
import { sendJson, setHeaders } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { startSession } from "./start-session.js";

const TOKEN_PARAM = new Set(["access_token"]);

export function createRegisterHandler(ctx: RouteContext, alwaysRefreshable: boolean): Handler {
  const { config, upstream, rateLimits, logger } = ctx;
  return async (req, res, info) => {
    setHeaders(res, await rateLimits.unauthenticated(info.address, "POST", info.path));
    // Synapse reads the body before it looks at whether registration is open: a broken body is M_NOT_JSON either way.
    const body = await readJsonBody(req, config.http.max_json_body);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw notJsonObject();
    if (!config.registration.enabled) {
      // Synapse's two refusals: a guest registration is refused as guest access (its errcode is M_UNKNOWN there).
      if (paramValues(req.url as string, "kind")[0] === "guest") throw new MatrixError(403, "M_UNKNOWN", "Guest access is disabled");
      throw forbidden("Registration has been disabled");
    }
    const { refresh_token: wantsRefresh, ...forwarded } = body as Record<string, unknown>;
    // An application service registers its users with its own token, never through the gateway (Synapse's
    // answer to this type without an appservice token, too).
    if (forwarded.type === "m.login.application_service") {
      throw new MatrixError(400, "M_UNKNOWN", "Application service registration is not available through the gateway");
    }
    if (wantsRefresh !== undefined && typeof wantsRefresh !== "boolean") throw badJson("'refresh_token' must be a boolean");
    // e.g. ?kind=guest; a client's access_token (the gateway's JWT) never goes upstream (contract).
    const query = withoutParams(req.url as string, TOKEN_PARAM).slice(info.path.length);

    // The homeserver is never asked for refresh tokens: the gateway issues its own.
    const reply = await upstream.post(`/_matrix/client/v3/register${query}`, forwarded, undefined, info.address);
    if (reply.status >= 500) throw upstreamFailed();
    const { user_id, access_token, device_id } = reply.body;
    if (reply.status !== 200 || typeof access_token !== "string") {
      sendJson(res, reply.status, reply.body);
      return;
    }
    if (typeof user_id !== "string" || typeof device_id !== "string") throw upstreamFailed();
    const grant = await startSession(
      ctx,
      { userId: user_id, deviceId: device_id, upstreamToken: access_token, refreshable: alwaysRefreshable || wantsRefresh === true },
      info.address,
    );
    info.userId = user_id;
    logger.info({ event: "register", user_id, session: grant.session.id, device_id }, "registered");
    const answer: Record<string, unknown> = {
      user_id,
      access_token: grant.accessToken,
      expires_in_ms: grant.expiresInMs,
      device_id,
      home_server: config.server_name,
    };
    if (grant.refreshToken !== undefined) answer.refresh_token = grant.refreshToken;
    sendJson(res, 200, answer);
  };
}
