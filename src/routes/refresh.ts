/**
 * Exchanging a refresh token: the seed's `POST api/v1/tokenrefresh` and the spec-v1.3
 * `POST v1|v3/refresh`. Same body and answer; they differ only in how they fail.
 * No access token is needed (clients send their expired one along; it is ignored).
 */

import { refreshTokenFamily } from "../auth/refresh-token.js";
import { readJsonBody } from "../http/body.js";
import { badJson, MatrixError, missingParam } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { logoutUpstream } from "./logout.js";

export type RefreshForm = "seed" | "spec";

const REFUSED: Record<RefreshForm, () => MatrixError> = {
  seed: () => new MatrixError(403, "M_FORBIDDEN", "Invalid refresh token"),
  spec: () => new MatrixError(401, "M_UNKNOWN_TOKEN", "Invalid refresh token", { soft_logout: true }),
};

export function createRefreshHandler(ctx: RouteContext, form: RefreshForm): Handler {
  const { config, sessions, rateLimits, logger } = ctx;
  return async (req, res, info) => {
    const { address } = info;
    let limitHeaders = await rateLimits.refreshAttempt(address);
    const body = await readJsonBody(req, config.http.max_json_body);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Refresh body must be a JSON object");
    const presented = (body as Record<string, unknown>).refresh_token;
    if (presented === undefined) throw missingParam("refresh_token");
    if (typeof presented !== "string") throw badJson("'refresh_token' must be a string");
    const family = refreshTokenFamily(presented);
    if (family !== undefined) limitHeaders = await rateLimits.refreshOfSession(family, limitHeaders);

    const outcome = await sessions.refresh(presented);
    if (!outcome.ok) {
      if (outcome.reason === "theft" && outcome.session) {
        info.outcome = "theft";
        const session = outcome.session;
        logger.warn(
          { event: "refresh_token_reuse", user_id: session.userId, session: session.id },
          "refresh token reused: session revoked",
        );
        void logoutUpstream(ctx, session.upstreamToken, "/logout", address);
      } else if (outcome.reason === "sibling" && outcome.session) {
        // Several tabs refreshed at once and another one's pair was used first: not theft, nothing revoked.
        info.outcome = "sibling_superseded";
        const session = outcome.session;
        logger.info(
          { event: "refresh_sibling_superseded", user_id: session.userId, session: session.id },
          "refresh token superseded by a sibling: refused, session kept",
        );
      } else {
        logger.info({ event: "refresh_refused", reason: outcome.reason }, "refresh refused");
      }
      throw REFUSED[form]();
    }
    const { grant, retried } = outcome;
    if (retried) info.outcome = "retry_in_grace";
    logger.info({ event: "refresh", user_id: grant.session.userId, session: grant.session.id, retried }, "refresh");
    const answer = { access_token: grant.accessToken, refresh_token: grant.refreshToken, expires_in_ms: grant.expiresInMs };
    sendJson(res, 200, answer, limitHeaders);
  };
}
