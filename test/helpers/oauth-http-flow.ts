/**
 * The authorization code flow over plain HTTP for the tests of its refusals: register a loopback
 * client, get a code through the login form, exchange it at the token endpoint with any parameter
 * changed. Each step answers the raw reply, so a test can assert the exact status and body.
 */
import { ALICE, type AuthorizationRequest, authorizationRequest, authorizeWithForms, type Credentials } from "./oauth-form-login.js";
import { matrixScope, type OAuthTestGateway, postForm, registerLoopbackClient } from "./oauth-gateway.js";

/** A loopback redirect_uri with a port: the client registered it without one (any port matches). */
export const REDIRECT_URI = "http://127.0.0.1:45789/callback";

export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  deviceId: string;
  request: AuthorizationRequest;
  code: string;
}

/** Registers a client (unless `clientId` is given) and logs in through the forms; returns the code. */
export async function obtainCode(
  gw: OAuthTestGateway,
  deviceId: string,
  options: { clientId?: string; credentials?: Credentials } = {},
): Promise<CodeGrant> {
  const clientId = options.clientId ?? (await registerLoopbackClient(gw));
  const request = authorizationRequest(gw.issuer, clientId, REDIRECT_URI, matrixScope(deviceId));
  const { location } = await authorizeWithForms(request.url, options.credentials);
  const code = location.searchParams.get("code");
  if (!code || location.searchParams.get("state") !== request.state) {
    throw new Error(`no code for ${deviceId}: redirected to ${location.href}`);
  }
  return { clientId, redirectUri: REDIRECT_URI, deviceId, request, code };
}

/** `grant_type=authorization_code` with the grant's parameters, any of them replaced. */
export function exchangeCode(gw: OAuthTestGateway, grant: CodeGrant, overrides: Record<string, string> = {}) {
  return postForm(gw, "/oauth2/token", {
    grant_type: "authorization_code",
    code: grant.code,
    client_id: grant.clientId,
    redirect_uri: grant.redirectUri,
    code_verifier: grant.request.verifier,
    ...overrides,
  });
}

/** `grant_type=refresh_token`, as matrix-js-sdk sends it (no scope). */
export function refreshGrant(gw: OAuthTestGateway, clientId: string, refreshToken: string) {
  return postForm(gw, "/oauth2/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: refreshToken });
}

/** A full login: code, then tokens; throws unless the exchange answered 200. */
export async function loginOverHttp(gw: OAuthTestGateway, deviceId: string, options: { clientId?: string } = {}) {
  const grant = await obtainCode(gw, deviceId, options);
  const reply = await exchangeCode(gw, grant);
  if (reply.status !== 200) throw new Error(`code exchange failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { grant, tokens: reply.body as { access_token: string; refresh_token: string; expires_in: number; scope: string } };
}

/** The homeserver's own access token for `deviceId`, if the device is logged in there. */
export function upstreamTokenOf(gw: OAuthTestGateway, deviceId: string): string | undefined {
  for (const [token, device] of gw.homeserver.tokens) if (device.deviceId === deviceId) return token;
  return undefined;
}

export { ALICE };

/**
 * How many whoami requests reached the homeserver: a revoked token must be refused by the gateway itself,
 * so this count does not move. (Only whoami: a revocation's homeserver logout may still be arriving.)
 */
export function whoamisAtHomeserver(gw: OAuthTestGateway): number {
  return gw.homeserver.received.filter((r) => r.url.includes("/account/whoami")).length;
}

/**
 * Whether the homeserver device is logged out within `ms`: the theft rule logs it out without waiting
 * (fire and forget, as `/refresh` does), so the test polls instead of looking once.
 */
export async function deviceLoggedOut(gw: OAuthTestGateway, deviceId: string, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (upstreamTokenOf(gw, deviceId) !== undefined) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
