/**
 * The contract's rotation rules as one pure decision (src/auth/rotation.ts): every boundary of the
 * idle limit, the absolute limit and the retry grace, and the state a rotation or retry leaves.
 */
import t from "tap";
import { hashRefreshToken } from "../../src/auth/refresh-token.js";
import { decideRotation, nextRefreshState, type RotationDecision, type RotationPolicy } from "../../src/auth/rotation.js";
import type { RefreshState } from "../../src/store/store.js";

const ISSUED_AT = 1_000_000;
const GRACE_MS = 30_000;
const IDLE_MS = 3_600_000;
const SESSION_END = ISSUED_AT + 10 * IDLE_MS;

const CURRENT = hashRefreshToken("current");
const PREVIOUS = hashRefreshToken("previous");
const OTHER = hashRefreshToken("other");

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
    t.same(nextRefreshState(refreshedOnce, "rotate", NEXT, now), {
      family: "family",
      currentHash: NEXT,
      currentIssuedAt: now,
      previousHash: CURRENT,
      previousUsedAt: now,
    });
    t.same(refreshedOnce, before, "the input is not mutated");
  });

  t.test("rotate from a fresh login", async (t) => {
    t.same(nextRefreshState(fresh, "rotate", NEXT, now), {
      family: "family",
      currentHash: NEXT,
      currentIssuedAt: now,
      previousHash: CURRENT,
      previousUsedAt: now,
    });
  });

  t.test("retry: the unused successor is replaced; the grace is not extended", async (t) => {
    t.same(nextRefreshState(refreshedOnce, "retry", NEXT, now), {
      family: "family",
      currentHash: NEXT,
      currentIssuedAt: now,
      previousHash: PREVIOUS,
      previousUsedAt: ISSUED_AT,
    });
  });

  t.test("a retried chain: the replaced successor is theft, the previous token still a retry until the original grace ends", async (t) => {
    const retried = nextRefreshState(refreshedOnce, "retry", NEXT, now);
    const at = (after: number): RotationPolicy => ({ now: ISSUED_AT + after, graceMs: GRACE_MS, idleMs: IDLE_MS });
    t.equal(decideRotation(retried, SESSION_END, CURRENT, at(5_000)), "theft", "the successor the retry replaced");
    t.equal(decideRotation(retried, SESSION_END, NEXT, at(5_000)), "rotate", "the retry's token");
    t.equal(decideRotation(retried, SESSION_END, PREVIOUS, at(GRACE_MS - 1)), "retry");
    t.equal(decideRotation(retried, SESSION_END, PREVIOUS, at(GRACE_MS)), "theft");
  });
});
