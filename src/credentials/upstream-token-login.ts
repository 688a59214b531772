/**
 * `m.login.token` in the delegated mode: the end of every SSO/CAS/OIDC redirect login and of "sign in with
 * another device" (`login/get_token`). The homeserver issued the one-time token and alone can check it, so the
 * login is forwarded like a password login (the client's address as `X-Forwarded-For`, never asking for a
 * refresh token) and its access token becomes the session's upstream credential.
 */
import { upstreamFailed } from "../http/errors.js";
import type { UpstreamClient } from "../upstream/client.js";
import { homeserverRefusal, type VerifiedLogin } from "./upstream-login.js";

export interface TokenLogin {
  token: string;
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
  clientAddress?: string | undefined;
}

export type TokenLoginSource = (login: TokenLogin) => Promise<VerifiedLogin>;

export function createUpstreamTokenLogin(upstream: UpstreamClient): TokenLoginSource {
  return async (login) => {
    const body: Record<string, unknown> = { type: "m.login.token", token: login.token };
    if (login.deviceId !== undefined) body.device_id = login.deviceId;
    if (login.initialDeviceDisplayName !== undefined) body.initial_device_display_name = login.initialDeviceDisplayName;
    const reply = await upstream.post("/_matrix/client/v3/login", body, undefined, login.clientAddress);
    const { user_id, access_token, device_id } = reply.body;
    if (reply.status === 200) {
      if (typeof user_id !== "string" || typeof access_token !== "string" || typeof device_id !== "string") throw upstreamFailed();
      return { userId: user_id, deviceId: device_id, upstreamToken: access_token };
    }
    throw homeserverRefusal(reply, "Invalid login token");
  };
}
