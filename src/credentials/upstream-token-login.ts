/**
 * `m.login.token` in the delegated mode: the end of every SSO/CAS/OIDC redirect login and of "sign in with
 * another device" (`login/get_token`). The homeserver issued the one-time token and alone can check it, so the
 * login is forwarded like a password login (the client's address as `X-Forwarded-For`, never asking for a
 * refresh token) and its access token becomes the session's upstream credential.
 */
import type { UpstreamClient } from "../upstream/client.js";
import { forwardLogin, type VerifiedLogin } from "./upstream-login.js";

export interface TokenLogin {
  token: string;
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
  clientAddress?: string | undefined;
}

export type TokenLoginSource = (login: TokenLogin) => Promise<VerifiedLogin>;

export function createUpstreamTokenLogin(upstream: UpstreamClient): TokenLoginSource {
  return (login) => forwardLogin(upstream, { type: "m.login.token", token: login.token }, login, "Invalid login token");
}
