/**
 * One refresh-token exchange by the contract's rotation rules, shared by `/refresh` (Matrix kind) and the
 * OAuth token endpoint's `refresh_token` grant (OAuth kind): the per-chain rate limit, the rotation, and what
 * each refusal means — theft revokes the session and logs its homeserver device out, a superseded sibling is
 * refused without harm. Each caller renders the refusal its own API's way.
 */
import { type RefreshTokenKind, refreshTokenFamily } from "../auth/refresh-token.js";
import type { TokenGrant } from "../auth/sessions.js";
import type { RateLimitHeaders } from "../ratelimit/policies.js";
import type { RequestInfo, RouteContext } from "./context.js";
import { logoutUpstream } from "./logout.js";

/** The new pair and the rate-limit headers of the tighter limit, or `undefined` when the token was refused. */
export async function exchangeRefreshToken(
  ctx: RouteContext,
  info: RequestInfo,
  presented: string,
  kind: RefreshTokenKind,
  addressHeaders: RateLimitHeaders,
): Promise<{ grant: TokenGrant; headers: RateLimitHeaders } | undefined> {
  const { sessions, rateLimits, logger } = ctx;
  const family = refreshTokenFamily(presented, kind);
  const headers = family === undefined ? addressHeaders : await rateLimits.refreshOfSession(family, addressHeaders);

  const outcome = await sessions.refresh(presented, kind);
  if (!outcome.ok) {
    if (outcome.reason === "theft" && outcome.session) {
      info.outcome = "theft";
      const session = outcome.session;
      logger.warn({ event: "refresh_token_reuse", user_id: session.userId, session: session.id }, "refresh token reused: session revoked");
      void logoutUpstream(ctx, session.upstreamToken, "/logout", info.address);
    } else if (outcome.reason === "sibling" && outcome.session) {
      // Several tabs refreshed at once and another one's pair was used first: not theft, nothing revoked.
      info.outcome = "sibling_superseded";
      const session = outcome.session;
      logger.info(
        { event: "refresh_sibling_superseded", user_id: session.userId, session: session.id },
        "refresh token superseded by a sibling: refused, session kept",
      );
    } else {
      // Said here, not left to the status: the OAuth token endpoint refuses with 400, which would read as "invalid".
      info.outcome = "refused";
      logger.info({ event: "refresh_refused", reason: outcome.reason }, "refresh refused");
    }
    return undefined;
  }
  const { grant, retried } = outcome;
  if (retried) info.outcome = "retry_in_grace";
  logger.info({ event: "refresh", user_id: grant.session.userId, session: grant.session.id, retried }, "refresh");
  return { grant, headers };
}
