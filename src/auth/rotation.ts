/**
 * The refresh-token rotation rules of the contract, as one pure decision. Each store runs it inside
 * its own transaction and applies the outcome, so a rotation is all-or-nothing.
 */
import { timingSafeEqual } from "node:crypto";
import type { RefreshState } from "../store/store.js";

export interface RotationPolicy {
  now: number;
  /** `tokens.refresh_reuse_grace`: a used token may be retried this long while its successor is unused. */
  graceMs: number;
  /** `tokens.refresh_ttl`: an unused token dies this long after it was issued. */
  idleMs: number;
}

export type RotationDecision =
  /** The presented token is the current one: it becomes used, a successor is issued. */
  | "rotate"
  /** The presented token was used moments ago and its successor never was: a lost response, reissue. */
  | "retry"
  /** Any other token of this family: the chain leaked. */
  | "theft"
  /** The presented token is past its idle limit, or the session past its absolute limit. */
  | "expired";

export function decideRotation(
  state: RefreshState,
  sessionExpiresAt: number,
  presentedHash: string,
  policy: RotationPolicy,
): RotationDecision {
  if (sessionExpiresAt <= policy.now) return "expired";
  if (sameHash(presentedHash, state.currentHash)) {
    return state.currentIssuedAt + policy.idleMs <= policy.now ? "expired" : "rotate";
  }
  // The current token is unused by construction: once used it becomes the previous one.
  if (
    state.previousHash !== null &&
    state.previousUsedAt !== null &&
    sameHash(presentedHash, state.previousHash) &&
    policy.now - state.previousUsedAt < policy.graceMs
  ) {
    return "retry";
  }
  return "theft";
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** The refresh state after a rotate or retry that issued `nextHash`. */
export function nextRefreshState(state: RefreshState, decision: "rotate" | "retry", nextHash: string, now: number): RefreshState {
  if (decision === "retry") return { ...state, currentHash: nextHash, currentIssuedAt: now };
  return { family: state.family, currentHash: nextHash, currentIssuedAt: now, previousHash: state.currentHash, previousUsedAt: now };
}
