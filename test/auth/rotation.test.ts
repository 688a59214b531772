/**
 * The contract's rotation rules as one pure decision (src/auth/rotation.ts): every boundary of the
 * idle limit, the absolute limit and the retry grace, siblings (several tabs refreshing at once), and
 * the state a rotation or retry leaves.
 */
import t from "tap";
import { hashRefreshToken } from "../../src/auth/refresh-token.js";
import { decideRotation, MAX_SIBLINGS, nextRefreshState, type RotationDecision, type RotationPolicy } from "../../src/auth/rotation.js";
import type { RefreshState } from "../../src/store/store.js";

const ISSUED_AT = 1_000_000;
const GRACE_MS = 30_000;
const IDLE_MS = 3_600_000;
const SESSION_END = ISSUED_AT + 10 * IDLE_MS;

const CURRENT = hashRefreshToken("current");
const PREVIOUS = hashRefreshToken("previous");
const OTHER = hashRefreshToken("other");
const SIBLING = hashRefreshToken("sibling");
const DEAD = hashRefreshToken("dead");

/** A chain that has been refreshed once: `previous` was used at ISSUED_AT, `current` issued then. */
const refreshedOnce: RefreshState = {
  family: "family",
  currentHash: CURRENT,
  currentIssuedAt: ISSUED_AT,
  previousHash: PREVIOUS,
  previousUsedAt: ISSUED_AT,
};
/** A chain fresh from login: no previous token. */
const fresh: RefreshState = { ...refreshedOnce, previousHash: null, previousUsedAt: null };
/** Two tabs refreshed `previous` at once: `sibling` was issued first, `current` for the retry, both unused. */
const raced: RefreshState = { ...refreshedOnce, siblingHashes: [SIBLING] };
/** `previous`'s children raced, one was used: `dead` died then and `previous` became the one before it. */
const afterRace: RefreshState = { ...refreshedOnce, supersededHashes: [DEAD] };
const manySiblings = (count: number): string[] => Array.from({ length: count }, (_, i) => hashRefreshToken(`sibling-${i}`));

interface Row {
  name: string;
  state?: RefreshState;
  presented: string;
  /** Milliseconds after ISSUED_AT. */
  after: number;
  graceMs?: number;
  sessionEnd?: number;
  expected: RotationDecision;
}

const ROWS: Row[] = [
  // The current token.
  { name: "current token, just issued", presented: CURRENT, after: 0, expected: "rotate" },
  { name: "current token, 1ms before the idle limit", presented: CURRENT, after: IDLE_MS - 1, expected: "rotate" },
  { name: "current token, at the idle limit", presented: CURRENT, after: IDLE_MS, expected: "expired" },
  { name: "current token of a fresh login", state: fresh, presented: CURRENT, after: 0, expected: "rotate" },
  // The previous token: a retry while the grace lasts (the current one is unused by construction).
  { name: "previous token, at once", presented: PREVIOUS, after: 0, expected: "retry" },
  { name: "previous token, 1ms before the grace ends", presented: PREVIOUS, after: GRACE_MS - 1, expected: "retry" },
  { name: "previous token, when the grace ends", presented: PREVIOUS, after: GRACE_MS, expected: "theft" },
  { name: "previous token, long after", presented: PREVIOUS, after: IDLE_MS - 1, expected: "theft" },
  { name: "previous token, grace 0", presented: PREVIOUS, after: 0, graceMs: 0, expected: "theft" },
  {
    name: "previous token without a use time",
    state: { ...refreshedOnce, previousUsedAt: null },
    presented: PREVIOUS,
    after: 0,
    expected: "theft",
  },
  // Siblings: every unused token issued for `previous` may carry the session on, within the same idle limit.
  { name: "an unused sibling, at once", state: raced, presented: SIBLING, after: 0, expected: "rotate" },
  { name: "an unused sibling, after the grace", state: raced, presented: SIBLING, after: GRACE_MS, expected: "rotate" },
  { name: "an unused sibling, at the newest one's idle limit", state: raced, presented: SIBLING, after: IDLE_MS, expected: "expired" },
  { name: "the newest of raced tokens", state: raced, presented: CURRENT, after: 0, expected: "rotate" },
  { name: "previous token of raced tokens, inside the grace", state: raced, presented: PREVIOUS, after: 1, expected: "retry" },
  { name: "previous token of raced tokens, when the grace ends", state: raced, presented: PREVIOUS, after: GRACE_MS, expected: "theft" },
  {
    name: `previous token with ${MAX_SIBLINGS} unused children: refused quietly (the cap)`,
    state: { ...refreshedOnce, siblingHashes: manySiblings(MAX_SIBLINGS - 1) },
    presented: PREVIOUS,
    after: 0,
    expected: "sibling",
  },
  {
    name: `previous token with ${MAX_SIBLINGS - 1} unused children: one more retry`,
    state: { ...refreshedOnce, siblingHashes: manySiblings(MAX_SIBLINGS - 2) },
    presented: PREVIOUS,
    after: 0,
    expected: "retry",
  },
  // A sibling that died when another one was used: quiet refusal, whenever it comes.
  { name: "a dead sibling, at once", state: afterRace, presented: DEAD, after: 0, expected: "sibling" },
  { name: "a dead sibling, after the grace", state: afterRace, presented: DEAD, after: GRACE_MS, expected: "sibling" },
  { name: "a dead sibling, session ended", state: afterRace, presented: DEAD, after: 0, sessionEnd: ISSUED_AT, expected: "expired" },
  { name: "a dead sibling's hash, one character short", state: afterRace, presented: DEAD.slice(0, -1), after: 0, expected: "theft" },
  // Anything else naming the family.
  { name: "unknown token of the family", presented: OTHER, after: 0, expected: "theft" },
  { name: "unknown token, fresh login", state: fresh, presented: OTHER, after: 0, expected: "theft" },
  { name: "hash of another length", presented: CURRENT.slice(0, -1), after: 0, expected: "theft" },
  { name: "empty hash", presented: "", after: 0, expected: "theft" },
  // The absolute limit wins over everything, theft included (an expired session has nothing to revoke).
  { name: "current token, session 1ms from its end", presented: CURRENT, after: 0, sessionEnd: ISSUED_AT + 1, expected: "rotate" },
  { name: "current token, session at its end", presented: CURRENT, after: 0, sessionEnd: ISSUED_AT, expected: "expired" },
  { name: "previous token inside the grace, session ended", presented: PREVIOUS, after: 1, sessionEnd: ISSUED_AT + 1, expected: "expired" },
  { name: "unknown token, session ended", presented: OTHER, after: 0, sessionEnd: ISSUED_AT, expected: "expired" },
];

t.test("decideRotation", async (t) => {
  for (const row of ROWS) {
    const policy: RotationPolicy = { now: ISSUED_AT + row.after, graceMs: row.graceMs ?? GRACE_MS, idleMs: IDLE_MS };
    t.equal(decideRotation(row.state ?? refreshedOnce, row.sessionEnd ?? SESSION_END, row.presented, policy), row.expected, row.name);
  }
});

t.test("nextRefreshState", async (t) => {
  const NEXT = hashRefreshToken("next");
  const now = ISSUED_AT + 5_000;

  t.test("rotate: the presented token becomes the previous one, used now", async (t) => {
    const before = structuredClone(refreshedOnce);
    t.same(nextRefreshState(refreshedOnce, "rotate", CURRENT, NEXT, now), {
      family: "family",
      currentHash: NEXT,
      currentIssuedAt: now,
      previousHash: CURRENT,
      previousUsedAt: now,
    });
    t.same(refreshedOnce, before, "the input is not mutated");
  });

  t.test("rotate from a fresh login", async (t) => {
    t.same(nextRefreshState(fresh, "rotate", CURRENT, NEXT, now), {
      family: "family",
      currentHash: NEXT,
      currentIssuedAt: now,
      previousHash: CURRENT,
      previousUsedAt: now,
    });
  });

  t.test("retry: the unused successor stays as a sibling; the grace is not extended", async (t) => {
    t.same(nextRefreshState(refreshedOnce, "retry", PREVIOUS, NEXT, now), {
      family: "family",
      currentHash: NEXT,
      currentIssuedAt: now,
      siblingHashes: [CURRENT],
      previousHash: PREVIOUS,
      previousUsedAt: ISSUED_AT,
    });
  });

  t.test("a second retry: every child is kept, oldest first", async (t) => {
    const LAST = hashRefreshToken("last");
    const twice = nextRefreshState(nextRefreshState(refreshedOnce, "retry", PREVIOUS, NEXT, now), "retry", PREVIOUS, LAST, now + 1);
    t.same(twice, {
      family: "family",
      currentHash: LAST,
      currentIssuedAt: now + 1,
      siblingHashes: [CURRENT, NEXT],
      previousHash: PREVIOUS,
      previousUsedAt: ISSUED_AT,
    });
  });

  t.test("rotate from a sibling: the others die, the used one becomes the previous token", async (t) => {
    const retried = nextRefreshState(refreshedOnce, "retry", PREVIOUS, NEXT, now);
    const LAST = hashRefreshToken("last");
    t.same(nextRefreshState(retried, "rotate", CURRENT, LAST, now + 10), {
      family: "family",
      currentHash: LAST,
      currentIssuedAt: now + 10,
      previousHash: CURRENT,
      previousUsedAt: now + 10,
      supersededHashes: [NEXT],
    });
  });

  t.test("dead siblings are remembered newest generation first, at most MAX_SIBLINGS", async (t) => {
    const older = manySiblings(MAX_SIBLINGS);
    const state: RefreshState = { ...refreshedOnce, siblingHashes: [SIBLING], supersededHashes: older };
    const next = nextRefreshState(state, "rotate", CURRENT, NEXT, now);
    t.equal(next.supersededHashes?.length, MAX_SIBLINGS, "capped");
    t.equal(next.supersededHashes?.[0], SIBLING, "the generation that just died comes first");
    t.equal(next.supersededHashes?.[MAX_SIBLINGS - 1], older[MAX_SIBLINGS - 2], "the oldest one is forgotten");
    t.notOk(next.siblingHashes, "no unused sibling of the new token");
  });

  t.test("a retried chain: every child carries on until one is used; then the others die quietly and the parent is theft", async (t) => {
    const retried = nextRefreshState(refreshedOnce, "retry", PREVIOUS, NEXT, now);
    const at = (after: number): RotationPolicy => ({ now: ISSUED_AT + after, graceMs: GRACE_MS, idleMs: IDLE_MS });
    t.equal(decideRotation(retried, SESSION_END, CURRENT, at(5_000)), "rotate", "the first successor");
    t.equal(decideRotation(retried, SESSION_END, NEXT, at(5_000)), "rotate", "the retry's token");
    t.equal(decideRotation(retried, SESSION_END, PREVIOUS, at(GRACE_MS - 1)), "retry");
    t.equal(decideRotation(retried, SESSION_END, PREVIOUS, at(GRACE_MS)), "theft");

    const LAST = hashRefreshToken("last");
    const used = nextRefreshState(retried, "rotate", NEXT, LAST, ISSUED_AT + 6_000);
    t.equal(decideRotation(used, SESSION_END, CURRENT, at(6_001)), "sibling", "the first successor died quietly");
    t.equal(decideRotation(used, SESSION_END, PREVIOUS, at(6_001)), "theft", "the parent's line moved on");
    t.equal(decideRotation(used, SESSION_END, NEXT, at(6_001)), "retry", "the used sibling is now the one retried");
    t.equal(decideRotation(used, SESSION_END, LAST, at(6_001)), "rotate");
  });
});
