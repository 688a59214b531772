/**
 * Exchanging a refresh token: the seed's `POST api/v1/tokenrefresh` and the spec-v1.3
 * `POST v1|v3/refresh`. Same body and answer; they differ only in how they fail.
 * No access token is needed (clients send their expired one along; it is ignored).
 */

import { readJsonBody } from "../http/body.js";
import { badJson, MatrixError, missingParam } from "../http/errors.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "./context.js";
import { exchangeRefreshToken } from "./refresh-exchange.js";

export type RefreshForm = "seed" | "spec";

const REFUSED: Record<RefreshForm, () => MatrixError> = {
  seed: () => new MatrixError(403, "M_FORBIDDEN", "Invalid refresh token"),
  spec: () => new MatrixError(401, "M_UNKNOWN_TOKEN", "Invalid refresh token", { soft_logout: true }),
};

export function createRefreshHandler(ctx: RouteContext, form: RefreshForm): Handler {
  const { config, rateLimits } = ctx;
  return async (req, res, info) => {
    const { address } = info;
    const limitHeaders = await rateLimits.refreshAttempt(address);
    const body = await readJsonBody(req, config.http.max_json_body);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Refresh body must be a JSON object");
    const presented = (body as Record<string, unknown>).refresh_token;
    if (presented === undefined) throw missingParam("refresh_token");
    if (typeof presented !== "string") throw badJson("'refresh_token' must be a string");
    const exchanged = await exchangeRefreshToken(ctx, info, presented, "matrix", limitHeaders);
    if (!exchanged) throw REFUSED[form]();
    const { grant, headers } = exchanged;
    const answer = { access_token: grant.accessToken, refresh_token: grant.refreshToken, expires_in_ms: grant.expiresInMs };
    sendJson(res, 200, answer, headers);
  };
}
