/**
 * `GET|POST PREFIX/login` for the three client API generations (seed `api/v1`, `r0`, `v3`).
 * The password is checked by the credentials source; the gateway then starts its own session.
 */

import { readJsonBody } from "../http/body.js";
import { badJson, badLoginType, forbidden, MatrixError, missingParam } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { startSession } from "./start-session.js";

const LOGIN_FLOWS = { flows: [{ type: "m.login.password" }] };

export interface LoginRequest {
  user: string;
  password: string;
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
  wantsRefreshToken: boolean;
}

export const loginFlows: Handler = (_req, res) => sendJson(res, 200, LOGIN_FLOWS);

/** `alwaysRefreshable`: the seed API always returns a refresh token; r0/v3 only on request. */
export function createLoginHandler(ctx: RouteContext, alwaysRefreshable: boolean): Handler {
  const { config, credentials, rateLimits, logger } = ctx;
  const serverName = config.server_name;

  return async (req, res, { address }) => {
    const limitHeaders = await rateLimits.loginAttempt(address);
    const request = parseLoginRequest(await readJsonBody(req, config.http.max_json_body));
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

/** Both request forms: the seed's `user` and the modern `identifier: {type: m.id.user}`. */
export function parseLoginRequest(body: unknown): LoginRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Login body must be a JSON object");
  const b = body as Record<string, unknown>;
  if (b.type === undefined) throw missingParam("type");
  if (b.type !== "m.login.password") throw badLoginType();

  let user: unknown = b.user;
  if (b.identifier !== undefined) {
    const identifier = b.identifier as Record<string, unknown> | null;
    if (typeof identifier !== "object" || identifier === null || Array.isArray(identifier)) throw badJson("'identifier' must be an object");
    if (identifier.type !== "m.id.user") throw new MatrixError(400, "M_UNKNOWN", "Unknown login identifier type");
    user = identifier.user;
  }
  if (user === undefined) throw missingParam("identifier");
  if (typeof user !== "string" || user === "") throw badJson("'user' must be a non-empty string");
  if (b.password === undefined) throw missingParam("password");
  if (typeof b.password !== "string") throw badJson("'password' must be a string");
  for (const field of ["device_id", "initial_device_display_name"] as const) {
    if (b[field] !== undefined && typeof b[field] !== "string") throw badJson(`'${field}' must be a string`);
  }
  if (b.refresh_token !== undefined && typeof b.refresh_token !== "boolean") throw badJson("'refresh_token' must be a boolean");
  return {
    user,
    password: b.password,
    deviceId: b.device_id as string | undefined,
    initialDeviceDisplayName: b.initial_device_display_name as string | undefined,
    wantsRefreshToken: b.refresh_token === true,
  };
}

/** A localpart or a full user ID of this server; users of other servers cannot log in here. */
export function toUserId(user: string, serverName: string): string {
  if (!user.startsWith("@")) return `@${user}:${serverName}`;
  const colon = user.indexOf(":");
  if (colon === -1 || user.slice(colon + 1) !== serverName) throw forbidden("Invalid username or password");
  return user;
}
