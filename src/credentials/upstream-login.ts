/**
 * The default credentials source: the homeserver checks the password itself. The gateway forwards
 * the login (never asking the homeserver for refresh tokens) and keeps the homeserver's access
 * token as the session's upstream credential.
 */
import { forbidden, MatrixError, upstreamFailed } from "../http/errors.js";
import type { UpstreamClient, UpstreamReply } from "../upstream/client.js";

export interface PasswordLogin {
  /** Full user ID, `@localpart:server_name`. */
  userId: string;
  password: string;
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
  /** The client's address, sent to the homeserver as `X-Forwarded-For` (its own login limits see each client). */
  clientAddress?: string | undefined;
}

export interface VerifiedLogin {
  userId: string;
  deviceId: string;
  upstreamToken: string;
}

export type CredentialsSource = (login: PasswordLogin) => Promise<VerifiedLogin>;

export function createUpstreamLogin(upstream: UpstreamClient): CredentialsSource {
  return (login) =>
    forwardLogin(
      upstream,
      { type: "m.login.password", identifier: { type: "m.id.user", user: login.userId }, password: login.password },
      login,
      "Invalid username or password",
    );
}

/** What every forwarded login carries besides its credential. */
interface LoginOptions {
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
  clientAddress?: string | undefined;
}

/**
 * Sends a login to the homeserver (password or `m.login.token`), with the client's device choices and address,
 * never asking for a refresh token; its access token becomes the session's upstream credential.
 */
export async function forwardLogin(
  upstream: UpstreamClient,
  credential: Record<string, unknown>,
  login: LoginOptions,
  forbiddenMessage: string,
): Promise<VerifiedLogin> {
  const body: Record<string, unknown> = { ...credential };
  if (login.deviceId !== undefined) body.device_id = login.deviceId;
  if (login.initialDeviceDisplayName !== undefined) body.initial_device_display_name = login.initialDeviceDisplayName;
  const reply = await upstream.post("/_matrix/client/v3/login", body, undefined, login.clientAddress);
  const { user_id, access_token, device_id } = reply.body;
  if (reply.status === 200) {
    if (typeof user_id !== "string" || typeof access_token !== "string" || typeof device_id !== "string") throw upstreamFailed();
    return { userId: user_id, deviceId: device_id, upstreamToken: access_token };
  }
  throw homeserverRefusal(reply, forbiddenMessage);
}

/** A homeserver's refusal of a forwarded login: a 403 as `M_FORBIDDEN`, its other 4xx (deactivated user, its own rate limit, …) as they are. */
export function homeserverRefusal(reply: UpstreamReply, forbiddenMessage: string): MatrixError {
  if (reply.status === 403) return forbidden(typeof reply.body.error === "string" ? reply.body.error : forbiddenMessage);
  if (reply.status >= 400 && reply.status < 500 && typeof reply.body.errcode === "string") {
    const { errcode, error, ...extra } = reply.body;
    const headers: Record<string, string> = {};
    if (typeof extra.retry_after_ms === "number") headers["Retry-After"] = String(Math.ceil(extra.retry_after_ms / 1000));
    return new MatrixError(reply.status, errcode, typeof error === "string" ? error : "Login refused", extra, headers);
  }
  return upstreamFailed();
}
