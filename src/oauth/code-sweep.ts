/**
 * Codes never exchanged: the homeserver login behind each happened at authorization, so once a code
 * expires its homeserver session is logged out (contract: a code never exchanged leaves no live homeserver
 * session behind). Run periodically by `gateway.ts`.
 */
import type { RouteContext } from "../routes/context.js";
import { logoutUpstream } from "../routes/logout.js";

/** How often expired codes are looked for: codes live minutes (`oauth.code_ttl`). */
export const CODE_SWEEP_INTERVAL_MS = 60_000;

/** Removes expired codes and logs out the homeserver sessions of those never used; returns how many. */
export async function sweepExpiredCodes(ctx: Pick<RouteContext, "store" | "clock" | "logger" | "upstream">): Promise<number> {
  const expired = await ctx.store.takeExpiredCodes(ctx.clock.now());
  for (const code of expired) {
    ctx.logger.info(
      { event: "oauth_code_expired", user_id: code.userId, client_id: code.clientId },
      "authorization code expired unexchanged: its homeserver session is logged out",
    );
    await logoutUpstream(ctx, code.upstreamToken, "/logout");
  }
  return expired.length;
}
