/**
 * The `authorization_code` grant (RFC 6749 §4.1.3, PKCE RFC 7636): a code is used once, by the client it
 * was issued to, with the redirect URI it was issued for and the verifier of its challenge. The homeserver
 * login happened at the authorization step, so a code that fails here is spent and its homeserver session
 * logged out; one presented a second time also ends the session it started (RFC 6749 §4.1.2).
 */
import type { RequestInfo, RouteContext } from "../routes/context.js";
import { logoutUpstream } from "../routes/logout.js";
import type { AuthorizationCode } from "../store/store.js";
import { hashAuthorizationCode } from "./code.js";
import { OAuthError } from "./errors.js";
import { required } from "./form-body.js";
import { signIdToken } from "./id-token.js";
import { verifierMatches } from "./pkce.js";
import { type TokenAnswer, tokenAnswer } from "./token-answer.js";

const invalidGrant = (description: string) => new OAuthError(400, "invalid_grant", description);

export async function exchangeCode(ctx: RouteContext, info: RequestInfo, form: Map<string, string>, issuer: string): Promise<TokenAnswer> {
  const { store, sessions, clock, logger } = ctx;
  const presented = required(form, "code");
  const use = await store.takeCode(hashAuthorizationCode(presented), clock.now());
  if (!use) throw invalidGrant("The authorization code is unknown, expired or already used");
  const { code } = use;
  if (!use.firstUse) {
    const ended = await sessions.revoke(code.sessionId);
    logger.warn(
      { event: "oauth_code_reuse", user_id: code.userId, session: code.sessionId, client_id: code.clientId, ended: ended !== undefined },
      "authorization code presented again: its session is revoked",
    );
    await logoutUpstream(ctx, code.upstreamToken, "/logout", info.address);
    throw invalidGrant("The authorization code is unknown, expired or already used");
  }
  const problem = mismatch(code, form);
  if (problem) {
    logger.info(
      { event: "oauth_code_refused", user_id: code.userId, client_id: code.clientId, reason: problem },
      "authorization code refused",
    );
    await logoutUpstream(ctx, code.upstreamToken, "/logout", info.address);
    throw invalidGrant(problem);
  }

  await endOlderSessionsOnDevice(ctx, code);
  const grant = await sessions.start({
    id: code.sessionId,
    userId: code.userId,
    deviceId: code.deviceId,
    upstreamToken: code.upstreamToken,
    refreshable: true,
    oauth: { clientId: code.clientId, scope: code.scope },
  });
  info.userId = code.userId;
  logger.info(
    { event: "oauth_login", user_id: code.userId, session: code.sessionId, device_id: code.deviceId, client_id: code.clientId },
    "OAuth login",
  );
  const answer = tokenAnswer(grant);
  const signingKey = ctx.config.oauth.signing_key;
  if (code.scope.split(" ").includes("openid") && signingKey) {
    answer.id_token = await signIdToken(signingKey, {
      issuer,
      clientId: code.clientId,
      userId: code.userId,
      nonce: code.nonce,
      now: clock.now(),
    });
  }
  return answer;
}

/** Why the request does not match the code, or `undefined` when it does. */
function mismatch(code: AuthorizationCode, form: Map<string, string>): string | undefined {
  if (form.get("client_id") !== code.clientId) return "The code was issued to another client";
  if (form.get("redirect_uri") !== code.redirectUri) return "redirect_uri differs from the authorization request's";
  const verifier = form.get("code_verifier");
  if (verifier === undefined) return "Missing parameter: code_verifier";
  if (!verifierMatches(verifier, code.codeChallenge)) return "code_verifier does not match the code_challenge";
  return undefined;
}

/**
 * A new login on a device ends the gateway's older sessions on it (contract: one session per device). Not
 * their homeserver sessions: the homeserver logs a device out by its id, which is this new login's device too.
 */
async function endOlderSessionsOnDevice(ctx: RouteContext, code: AuthorizationCode): Promise<void> {
  const older = (await ctx.sessions.list(code.userId)).filter((s) => s.deviceId === code.deviceId && s.id !== code.sessionId);
  for (const session of older) {
    await ctx.sessions.revoke(session.id);
    ctx.logger.info({ event: "session_replaced", user_id: session.userId, session: session.id }, "older session on the same device ended");
  }
}
