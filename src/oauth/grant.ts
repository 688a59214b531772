/**
 * The end of a successful sign-in on the authorization page: the authorization code is stored at once (so a
 * sign-in abandoned on the consent page still expires and is logged out at the homeserver by the code sweep),
 * then either handed to the client (RFC 6749 §4.1.2) or, with `oauth.consent`, held back until the person
 * allows it (sealed into the consent form) — or refused, which logs the new homeserver session out again.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { newSessionId } from "../auth/sessions.js";
import type { VerifiedLogin } from "../credentials/upstream-login.js";
import type { RequestInfo } from "../http/request-info.js";
import { logoutUpstream } from "../routes/logout.js";
import type { OAuthClient } from "../store/store.js";
import type { AuthorizationRequest } from "./authorization-request.js";
import { boundToBrowser } from "./browser-binding.js";
import { clientHost, clientName } from "./client-name.js";
import { hashAuthorizationCode, newAuthorizationCode } from "./code.js";
import { staleForm } from "./page-error.js";
import { consentPage } from "./pages/consent-page.js";
import { sendPage, sendRedirect } from "./pages/html.js";
import type { Pages } from "./pages-context.js";
import { type ResponseMode, responseUrl } from "./redirect-uri.js";
import { parseScope } from "./scope.js";

/** What the consent form carries: where the answer goes, and the code it holds back. */
interface PendingGrant {
  code: string;
  clientId: string;
  redirectUri: string;
  responseMode: ResponseMode;
  state: string | undefined;
  userId: string;
  deviceId: string;
  bind: string;
}

export async function afterLogin(
  pages: Pages,
  res: ServerResponse,
  request: AuthorizationRequest,
  client: OAuthClient,
  verified: VerifiedLogin,
  bind: string,
): Promise<void> {
  const { ctx } = pages;
  const now = ctx.clock.now();
  const codeTtl = ctx.config.oauth.code_ttl;
  const { code, hash } = newAuthorizationCode(ctx.random);
  const sessionId = newSessionId(ctx.random);
  await ctx.store.saveCode({
    hash,
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    scope: request.scope,
    codeChallenge: request.codeChallenge,
    nonce: request.nonce,
    userId: verified.userId,
    deviceId: verified.deviceId,
    upstreamToken: verified.upstreamToken,
    sessionId,
    createdAt: now,
    expiresAt: now + codeTtl,
  });
  ctx.logger.info(
    { event: "oauth_code_issued", user_id: verified.userId, device_id: verified.deviceId, client_id: client.id, session: sessionId },
    "signed in on the authorization page",
  );
  const pending: PendingGrant = {
    code,
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    responseMode: request.responseMode,
    state: request.state,
    userId: verified.userId,
    deviceId: verified.deviceId,
    bind,
  };
  if (!ctx.config.oauth.consent) return grant(pages, res, pending);
  const sealed = await pages.sealer.seal("grant", { ...pending }, Math.min(pages.ttlMs, codeTtl));
  const body = consentPage(pages.site, {
    action: pages.authorizePath,
    sealed,
    userId: verified.userId,
    clientName: clientName(client),
    clientHost: clientHost(client),
    redirectTarget: redirectTarget(request.redirectUri),
    deviceId: verified.deviceId,
    openid: parseScope(request.scope)?.openid ?? false,
  });
  sendPage(res, 200, body);
}

/** `POST authorization_endpoint` from the consent page: `consent` hands the code over, anything else refuses. */
export async function consentStep(pages: Pages, req: IncomingMessage, res: ServerResponse, info: RequestInfo, form: URLSearchParams) {
  const payload = await pages.sealer.open("grant", form.get("grant") ?? undefined);
  if (!payload || !boundToBrowser(payload.bind, req)) throw staleForm();
  const pending = payload as unknown as PendingGrant;
  if (form.has("consent")) return grant(pages, res, pending);
  const { ctx } = pages;
  const taken = await ctx.store.takeCode(hashAuthorizationCode(pending.code), ctx.clock.now());
  if (taken?.firstUse) await logoutUpstream(ctx, taken.code.upstreamToken, "/logout", info.address);
  ctx.logger.info(
    { event: "oauth_consent_denied", user_id: pending.userId, device_id: pending.deviceId, client_id: pending.clientId },
    "access refused on the consent page",
  );
  sendRedirect(
    res,
    responseUrl(pending.redirectUri, pending.responseMode, {
      error: "access_denied",
      error_description: "the user refused access",
      state: pending.state,
      iss: pages.issuer,
    }),
  );
}

/**
 * Hands the code to the client. The user's older sessions on the same device end when the code is exchanged
 * (oauth/code-grant.ts), not here: a code never exchanged must not have ended anything.
 */
async function grant(pages: Pages, res: ServerResponse, pending: PendingGrant): Promise<void> {
  sendRedirect(
    res,
    responseUrl(pending.redirectUri, pending.responseMode, { code: pending.code, state: pending.state, iss: pages.issuer }),
  );
}

/** The redirect URI's host, or the app's own scheme (`com.example.app:/callback` opens the app). */
function redirectTarget(redirectUri: string): string {
  const url = new URL(redirectUri);
  if (url.protocol === "https:" || url.protocol === "http:") return url.host;
  return `the app (${url.protocol.slice(0, -1)})`;
}
