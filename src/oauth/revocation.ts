/**
 * `POST P oauth2/revoke` (RFC 7009, MSC4254): a form with `token` (an access or a refresh token;
 * `token_type_hint` and `client_id` optional). A token that names a live session ends all of it — both
 * tokens — and logs its homeserver device out, as `/logout` does. The answer is `200 {}` whatever the
 * token was (RFC 7009 §2.2: unknown, malformed and already revoked tokens too), so it tells nothing. Each
 * attempt counts against the refresh limit of its address, as the token endpoint's do: RFC 7009 §5 asks for a
 * defence against guessing tokens here, and the answer's sameness gives none by itself.
 */
import { looksLikeJwt } from "../auth/token-kind.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "../routes/context.js";
import { logoutUpstream } from "../routes/logout.js";
import { readForm, required } from "./form-body.js";
import { oauthJsonHandler } from "./json-handler.js";

export function createRevocationHandler(ctx: RouteContext): Handler {
  const { config, sessions, logger } = ctx;
  const handler: Handler = async (req, res, info) => {
    const limitHeaders = await ctx.rateLimits.refreshAttempt(info.address);
    const form = await readForm(req, config.http.max_json_body);
    const token = required(form, "token");
    const sessionId = await sessionOf(ctx, token);
    const clientId = form.get("client_id");
    const session = sessionId === undefined ? undefined : await ctx.store.getSession(sessionId);
    // A client may only revoke its own grants (RFC 7009 §2.1); a client_id left out is taken on trust, as
    // anyone holding the token can end the session through /logout anyway.
    if (session && (clientId === undefined || session.oauth === undefined || session.oauth.clientId === clientId)) {
      await sessions.revoke(session.id);
      logger.info({ event: "oauth_revoke", user_id: session.userId, session: session.id }, "OAuth revocation: session ended");
      await logoutUpstream(ctx, session.upstreamToken, "/logout", info.address);
    }
    sendJson(res, 200, {}, limitHeaders);
  };
  return oauthJsonHandler(handler, "invalid_request");
}

/** The session an access token (expired or not) or an OAuth refresh token names; `undefined` for anything else. */
async function sessionOf(ctx: RouteContext, token: string): Promise<string | undefined> {
  if (looksLikeJwt(token)) {
    try {
      return (await ctx.sessions.authenticate(token, { allowExpired: true })).id;
    } catch {
      return undefined; // a bad signature, another issuer, a revoked session: nothing to do
    }
  }
  return (await ctx.sessions.byRefreshToken(token, "oauth"))?.id;
}
