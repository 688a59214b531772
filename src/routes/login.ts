/**
 * `GET|POST PREFIX/login` for the three client API generations (seed `api/v1`, `r0`, `v3`).
 * The password is checked by the credentials source; the gateway then starts its own session.
 */

import type { IncomingMessage } from "node:http";
import { extractToken } from "../auth/extract-token.js";
import { readJsonBody } from "../http/body.js";
import { forbidden, MatrixError, missingToken, unknownToken } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { APPSERVICE_LOGIN, parseLoginRequest, readLoginSubmission } from "./login-request.js";
import { startSession } from "./start-session.js";

const LOGIN_FLOWS = { flows: [{ type: "m.login.password" }] };
/** Login types served besides the password. */
const NO_OTHER_TYPES: ReadonlySet<string> = new Set();

export const loginFlows: Handler = (_req, res) => sendJson(res, 200, LOGIN_FLOWS);

/** `alwaysRefreshable`: the seed API always returns a refresh token; r0/v3 only on request. */
export function createLoginHandler(ctx: RouteContext, alwaysRefreshable: boolean): Handler {
  const { config, credentials, rateLimits, logger } = ctx;
  const serverName = config.server_name;

  return async (req, res, { address }) => {
    // Synapse's order (routes/login-request.ts): what it refuses before its address limit is not counted.
    const submission = readLoginSubmission(await readJsonBody(req, config.http.max_json_body));
    if (submission.type === APPSERVICE_LOGIN) throw appserviceLoginRefused(req);
    const limitHeaders = await rateLimits.loginAttempt(address);
    const request = parseLoginRequest(submission, NO_OTHER_TYPES);
    if (request.type !== "m.login.password") throw forbidden("Invalid login token");
    // A user ID of another server fails like a wrong password, under the same counters.
    const userId = request.user.startsWith("@") ? request.user : toUserId(request.user, serverName);
    await rateLimits.loginAllowed(address, userId);
    let verified: Awaited<ReturnType<typeof credentials>>;
    try {
      verified = await credentials({
        userId: toUserId(userId, serverName),
        password: request.password,
        deviceId: request.deviceId,
        initialDeviceDisplayName: request.initialDeviceDisplayName,
        clientAddress: address,
      });
    } catch (error) {
      // A 403 was counted as a failure in advance (its reserved success is given back); anything else never
      // judged the password.
      if (error instanceof MatrixError && error.status === 403) await rateLimits.loginRefused(address, userId);
      else await rateLimits.loginUnchecked(address, userId);
      if (error instanceof MatrixError && error.status < 500) {
        logger.info({ event: "login_failed", user_id: userId, errcode: error.errcode }, "login refused");
      }
      throw error;
    }
    await rateLimits.loginSucceeded(address, userId);
    const refreshable = alwaysRefreshable || request.wantsRefreshToken;
    const grant = await startSession(ctx, { ...verified, refreshable }, address);
    logger.info(
      { event: "login", user_id: verified.userId, session: grant.session.id, device_id: verified.deviceId, refreshable },
      "login",
    );
    const body: Record<string, unknown> = {
      user_id: verified.userId,
      access_token: grant.accessToken,
      expires_in_ms: grant.expiresInMs,
      device_id: verified.deviceId,
      home_server: serverName,
    };
    if (grant.refreshToken !== undefined) body.refresh_token = grant.refreshToken;
    sendJson(res, 200, body, limitHeaders);
  };
}

/**
 * No client logs in as an application service through the gateway (contract): the homeserver never sees
 * such a login. The answer is Synapse's to a missing or unknown appservice token, as no token is one here.
 */
function appserviceLoginRefused(req: IncomingMessage): MatrixError {
  const { token } = extractToken(req.url ?? "/", req.headers, req.rawHeaders);
  return token === undefined ? missingToken() : unknownToken();
}

/** A localpart or a full user ID of this server; users of other servers cannot log in here. */
export function toUserId(user: string, serverName: string): string {
  if (!user.startsWith("@")) return `@${user}:${serverName}`;
  const colon = user.indexOf(":");
  if (colon === -1 || user.slice(colon + 1) !== serverName) throw forbidden("Invalid username or password");
  return user;
}
