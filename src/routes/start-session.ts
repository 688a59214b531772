/**
 * Starts the gateway session of a fresh homeserver login (login, registration). If the store cannot
 * keep it (disk full, Redis down: 503), the homeserver session just created is logged out again, so
 * a failed login leaves no orphaned device behind.
 */
import type { NewSession, TokenGrant } from "../auth/sessions.js";
import type { RouteContext } from "./context.js";
import { logoutUpstream } from "./logout.js";

export async function startSession(ctx: RouteContext, input: NewSession, clientAddress?: string): Promise<TokenGrant> {
  try {
    return await ctx.sessions.start(input);
  } catch (error) {
    void logoutUpstream(ctx, input.upstreamToken, "/logout", clientAddress);
    throw error;
  }
}
