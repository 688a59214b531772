/**
 * The refresh-token rotation rules of the contract, as one pure decision. Each store runs it inside
 * its own transaction and applies the outcome, so a rotation is all-or-nothing.
 *
 * Several tabs of one browser refresh with the same token at once: the first request rotates it, the
 * others (inside the grace) are retries, and each gets a pair of its own. All the tokens issued for one
 * presented token are *siblings*: any of them may carry the session on, and once one has, the others
 * die quietly (refused, session kept). Only a token whose line has moved on is theft.
 */
import { timingSafeEqual } from "node:crypto";
import type { RefreshState } from "../store/store.js";

/**
 * At most this many siblings are issued for one presented token, and at most this many dead siblings
 * are remembered: it bounds what a session's record holds (64 SHA-256 hashes ≈ 2.8 KB). A retry past
 * the cap is refused quietly, like a dead sibling: no pair, the session kept.
 */
export const MAX_SIBLINGS = 64;

export interface RotationPolicy {
  now: number;
  /** `tokens.refresh_reuse_grace`: a used token may be retried this long while no successor is used. */
  graceMs: number;
  /** `tokens.refresh_ttl`: unused tokens die this long after the newest of them was issued. */
  idleMs: number;
}

export type RotationDecision =
  /** The presented token is one of the unused ones: it becomes used, a successor is issued. */
  | "rotate"
  /** The presented token was used moments ago and none of its successors was: a lost response or another tab, reissue. */
  | "retry"
  /** A sibling that died when another one was used (or a retry past the cap): refused, the session kept. */
  | "sibling"
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
  if (isUnused(state, presentedHash)) {
    return state.currentIssuedAt + policy.idleMs <= policy.now ? "expired" : "rotate";
  }
  // The unused tokens are the previous one's children by construction: once one is used it becomes the
  // previous token, so presenting the old previous one after that falls through to theft.
  if (
    state.previousHash !== null &&
    state.previousUsedAt !== null &&
    sameHash(presentedHash, state.previousHash) &&
    policy.now - state.previousUsedAt < policy.graceMs
  ) {
    return 1 + (state.siblingHashes?.length ?? 0) < MAX_SIBLINGS ? "retry" : "sibling";
  }
  if (includesHash(state.supersededHashes, presentedHash)) return "sibling";
  return "theft";
}

/** The newest unused token or one of its unused siblings. */
function isUnused(state: RefreshState, presentedHash: string): boolean {
  return sameHash(presentedHash, state.currentHash) || includesHash(state.siblingHashes, presentedHash);
}

/** Compares against every entry (no early exit), so the time taken tells nothing about which matched. */
function includesHash(hashes: readonly string[] | undefined, presentedHash: string): boolean {
  let found = false;
  for (const hash of hashes ?? []) found = sameHash(presentedHash, hash) || found;
  return found;
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * The refresh state after a rotate or retry of `presentedHash` that issued `nextHash`. Empty lists are
 * left out, so a chain that never raced keeps the shape it always had.
 */
export function nextRefreshState(
  state: RefreshState,
  decision: "rotate" | "retry",
  presentedHash: string,
  nextHash: string,
  now: number,
): RefreshState {
  if (decision === "retry") {
    // The grace is not extended: it still counts from the presented token's first use.
    return withLists(
      { ...state, currentHash: nextHash, currentIssuedAt: now },
      [...(state.siblingHashes ?? []), state.currentHash],
      state.supersededHashes,
    );
  }
  const unused = [...(state.siblingHashes ?? []), state.currentHash];
  const died = unused.filter((hash) => !sameHash(hash, presentedHash));
  // Newest generation first, so the cap forgets the oldest dead siblings.
  const superseded = [...died, ...(state.supersededHashes ?? [])].slice(0, MAX_SIBLINGS);
  return withLists(
    { family: state.family, currentHash: nextHash, currentIssuedAt: now, previousHash: presentedHash, previousUsedAt: now },
    [],
    superseded,
  );
}

function withLists(base: RefreshState, siblings: string[] | undefined, superseded: string[] | undefined): RefreshState {
  const { siblingHashes: _s, supersededHashes: _d, ...rest } = base;
  const state: RefreshState = rest;
  if (siblings?.length) state.siblingHashes = siblings;
  if (superseded?.length) state.supersededHashes = superseded;
  return state;
}
