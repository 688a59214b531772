/**
 * A password login, checked by the credentials source between the account limits (ratelimit/policies.ts),
 * with its audit line. One code path for every place a user types a password: `POST …/login`, the OAuth
 * authorization page and the account page (src/oauth/), so each is limited and logged alike.
 */
import type { VerifiedLogin } from "../credentials/upstream-login.js";
import { forbidden, MatrixError } from "../http/errors.js";
import type { RouteContext } from "./context.js";

export interface PasswordAttempt {
  /** A localpart or a full user ID. */
  user: string;
  password: string;
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
}

/** The caller has counted the attempt against its address (`rateLimits.loginAttempt`) first. */
export async function passwordLogin(ctx: RouteContext, request: PasswordAttempt, address: string): Promise<VerifiedLogin> {
  const { rateLimits, logger, config } = ctx;
  const serverName = config.server_name;
  // A user ID of another server fails like a wrong password, under the same counters.
  const userId = request.user.startsWith("@") ? request.user : toUserId(request.user, serverName);
  await rateLimits.loginAllowed(address, userId);
  let verified: VerifiedLogin;
  try {
    verified = await ctx.credentials({
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
  return verified;
}

/** A localpart or a full user ID of this server; users of other servers cannot log in here. */
export function toUserId(user: string, serverName: string): string {
  if (!user.startsWith("@")) return `@${user}:${serverName}`;
  const colon = user.indexOf(":");
  if (colon === -1 || user.slice(colon + 1) !== serverName) throw forbidden("Invalid username or password");
  return user;
}
