/**
 * `POST P oauth2/token` (RFC 6749 §3.2): a form, answered with JSON. `authorization_code` starts a session
 * (`code-grant.ts`); `refresh_token` continues one by exactly the rules of the Matrix `/refresh`
 * (`routes/refresh-exchange.ts`), with OAuth-kind tokens only. Both count against the refresh limits.
 * Every answer says `no-store`; every error is RFC 6749 §5.2 JSON.
 */
import { sendJson } from "../http/respond.js";
import type { Handler, RequestInfo, RouteContext } from "../routes/context.js";
import { exchangeRefreshToken } from "../routes/refresh-exchange.js";
import { exchangeCode } from "./code-grant.js";
import { OAuthError } from "./errors.js";
import { readForm, required } from "./form-body.js";
import { oauthJsonHandler } from "./json-handler.js";
import { TOKEN_ENDPOINT_HEADERS, tokenAnswer } from "./token-answer.js";
import { oauthUrls } from "./urls.js";

export function createTokenHandler(ctx: RouteContext): Handler {
  const { config, rateLimits } = ctx;
  const issuer = oauthUrls(config.public_baseurl as string).issuer;
  const handler: Handler = async (req, res, info) => {
    const limitHeaders = await rateLimits.refreshAttempt(info.address);
    const form = await readForm(req, config.http.max_json_body);
    const grantType = required(form, "grant_type");
    if (grantType === "authorization_code") {
      const answer = await exchangeCode(ctx, info, form, issuer);
      sendJson(res, 200, answer, { ...limitHeaders, ...TOKEN_ENDPOINT_HEADERS });
      return;
    }
    if (grantType === "refresh_token") {
      // Counted with /refresh in the refresh metrics (outcomes ok, retry_in_grace, sibling_superseded, theft, refused).
      info.route = "refresh";
      const presented = required(form, "refresh_token");
      await refuseOtherClients(ctx, info, presented, form.get("client_id"));
      const exchanged = await exchangeRefreshToken(ctx, info, presented, "oauth", limitHeaders);
      if (!exchanged) throw new OAuthError(400, "invalid_grant", "The refresh token is invalid, expired or revoked");
      sendJson(res, 200, tokenAnswer(exchanged.grant), { ...exchanged.headers, ...TOKEN_ENDPOINT_HEADERS });
      return;
    }
    throw new OAuthError(400, "unsupported_grant_type", "Supported grant types: authorization_code, refresh_token");
  };
  return oauthJsonHandler(handler, "invalid_request", TOKEN_ENDPOINT_HEADERS);
}

/**
 * RFC 6749 §6: a refresh token serves only the client it was issued to. A `client_id` that names another client
 * is refused before the rotation, so the token stays valid for its own client (a confused or hostile app cannot
 * spend it); left out, it is taken on trust, as public clients need not identify themselves (§3.2.1) and
 * revocation does the same.
 */
async function refuseOtherClients(ctx: RouteContext, info: RequestInfo, presented: string, clientId: string | undefined): Promise<void> {
  if (clientId === undefined) return;
  const session = await ctx.sessions.byRefreshToken(presented, "oauth");
  if (session?.oauth !== undefined && session.oauth.clientId !== clientId) {
    info.outcome = "refused";
    ctx.logger.info({ event: "refresh_refused", reason: "other_client", client_id: clientId }, "refresh refused");
    throw new OAuthError(400, "invalid_grant", "The refresh token is invalid, expired or revoked");
  }
}
