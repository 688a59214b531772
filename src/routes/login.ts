/**
 * `GET|POST PREFIX/login` for the three client API generations (seed `api/v1`, `r0`, `v3`).
 * The password is checked by the credentials source (an `m.login.token`, in the delegated mode, by the
 * homeserver); the gateway then starts its own session.
 */

import type { IncomingMessage } from "node:http";
import { extractToken } from "../auth/extract-token.js";
import type { VerifiedLogin } from "../credentials/upstream-login.js";
import type { TokenLoginSource } from "../credentials/upstream-token-login.js";
import { readJsonBody } from "../http/body.js";
import { MatrixError, missingToken, unknownToken } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { APPSERVICE_LOGIN, type LoginRequest, parseLoginRequest, readLoginSubmission, TOKEN_LOGIN } from "./login-request.js";
import { logoutUpstream } from "./logout.js";
import { passwordLogin } from "./password-login.js";

type TokenRequest = Extract<LoginRequest, { type: "m.login.token" }>;

import { startSession } from "./start-session.js";

/** `GET PREFIX/login`: the flows of this mode (upstream/login-flows.ts). */
export function createLoginFlowsHandler(ctx: RouteContext): Handler {
  return async (_req, res) => sendJson(res, 200, await ctx.loginFlows());
}

/** `alwaysRefreshable`: the seed API always returns a refresh token; r0/v3 only on request. */
export function createLoginHandler(ctx: RouteContext, alwaysRefreshable: boolean): Handler {
  const { config, rateLimits, logger } = ctx;
  const serverName = config.server_name;
  const accepted: ReadonlySet<string> = new Set(ctx.tokenLogin ? [TOKEN_LOGIN] : []);

  return async (req, res, { address }) => {
    // Synapse's order (routes/login-request.ts): what it refuses before its address limit is not counted.
    const submission = readLoginSubmission(await readJsonBody(req, config.http.max_json_body));
    if (submission.type === APPSERVICE_LOGIN) throw appserviceLoginRefused(req);
    const limitHeaders = await rateLimits.loginAttempt(address);
    const request = parseLoginRequest(submission, accepted);
    const verified = request.type === TOKEN_LOGIN ? await tokenLogin(ctx, request, address) : await passwordLogin(ctx, request, address);
    const refreshable = alwaysRefreshable || request.wantsRefreshToken;
    const grant = await startSession(ctx, { ...verified, refreshable }, address);
    logger.info(
      {
        event: "login",
        user_id: verified.userId,
        session: grant.session.id,
        device_id: verified.deviceId,
        refreshable,
        login_type: request.type,
      },
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
 * `m.login.token`, checked by the homeserver (credentials/upstream-token-login.ts). The account is known only
 * once the homeserver has answered: its limit is applied then, as Synapse applies it after the token check,
 * and a login it refuses is logged out at the homeserver again.
 */
async function tokenLogin(ctx: RouteContext, request: TokenRequest, address: string): Promise<VerifiedLogin> {
  const check = ctx.tokenLogin as TokenLoginSource;
  let verified: VerifiedLogin;
  try {
    verified = await check({
      token: request.token,
      deviceId: request.deviceId,
      initialDeviceDisplayName: request.initialDeviceDisplayName,
      clientAddress: address,
    });
  } catch (error) {
    if (error instanceof MatrixError && error.status < 500) {
      ctx.logger.info({ event: "login_failed", login_type: TOKEN_LOGIN, errcode: error.errcode }, "login refused");
    }
    throw error;
  }
  try {
    await ctx.rateLimits.loginAllowed(address, verified.userId);
  } catch (error) {
    void logoutUpstream(ctx, verified.upstreamToken, "/logout", address);
    throw error;
  }
  await ctx.rateLimits.loginSucceeded(address, verified.userId);
  return verified;
}

/**
 * No client logs in as an application service through the gateway (contract): the homeserver never sees
 * such a login. The answer is Synapse's to a missing or unknown appservice token, as no token is one here.
 */
function appserviceLoginRefused(req: IncomingMessage): MatrixError {
  const { token } = extractToken(req.url ?? "/", req.headers, req.rawHeaders);
  return token === undefined ? missingToken() : unknownToken();
}
