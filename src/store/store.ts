/**
 * Where sessions live. One small interface, several backends (memory, sqlite, Redis), each
 * applying the rotation rules of `auth/rotation.ts` inside its own transaction.
 */
import type { RotationPolicy } from "../auth/rotation.js";

/** One login: what the gateway needs to authorise a request and to continue or end the session. */
export interface SessionRecord {
  id: string;
  userId: string;
  deviceId: string;
  /** The homeserver's access token for this session. Stores that persist it keep it encrypted. */
  upstreamToken: string;
  createdAt: number;
  /** Absolute end of the session (`session_max_age`, or the non-refreshable lifetime). */
  expiresAt: number;
  /** `null` for sessions whose client did not ask for refresh tokens. */
  refresh: RefreshState | null;
}

/** The part of a session a proxied request needs: who, which device, which homeserver credential, until when. */
export type RequestSession = Pick<SessionRecord, "id" | "userId" | "deviceId" | "upstreamToken" | "expiresAt">;

export interface RefreshState {
  family: string;
  /** Hash of the newest refresh token that may be used now. */
  currentHash: string;
  /** When the newest unused token was issued: the idle limit (`refresh_ttl`) counts from it. */
  currentIssuedAt: number;
  /**
   * The other unused tokens issued for the previous one (its first successor and earlier retries'), oldest
   * first; any of them may be used instead of the current one. Absent when there are none.
   */
  siblingHashes?: string[];
  /** Hash of the token the unused ones were issued for, and when it was first used: for the retry grace. */
  previousHash: string | null;
  previousUsedAt: number | null;
  /**
   * Siblings that died when another of their generation was used, newest first, at most `MAX_SIBLINGS`:
   * presenting one is refused quietly, not treated as theft. Absent when there are none.
   */
  supersededHashes?: string[];
}

export type RotationResult =
  | { kind: "rotated" | "retried"; session: SessionRecord }
  /** A dead sibling (`auth/rotation.ts`): refused, nothing written, the session kept. */
  | { kind: "sibling"; session: SessionRecord }
  /** The store has already deleted the session; the caller logs the upstream session out. */
  | { kind: "theft"; session: SessionRecord }
  | { kind: "unknown" | "expired" };

export interface RevocationFeed {
  sessionIds: string[];
  /** Opaque position in the feed: pass it back to read what came after. */
  cursor: string;
}

export interface SessionPage {
  sessions: SessionRecord[];
  cursor: string | undefined;
}

export interface Store {
  /**
   * `idleMs` is how long a refresh token may lie unused (`tokens.refresh_ttl`): a store that expires its
   * records itself (Redis) ends a new session there already, not only after its first rotation.
   */
  createSession(session: SessionRecord, idleMs?: number): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /**
   * What checking a request needs of a session, and no more (the hot path after a cache miss: SQLite reads
   * five columns instead of the whole row and parses no refresh state). A store that reads synchronously
   * (SQLite) answers without a promise, so that a miss too is checked in the request's own turn.
   */
  getRequestSession(id: string): RequestSession | undefined | Promise<RequestSession | undefined>;
  /**
   * Rotates the refresh token of `family` in one transaction: decides with `decideRotation`, then
   * stores `nextHash` as the current token (rotate, retry), changes nothing (sibling) or deletes the
   * session (theft).
   */
  rotateRefreshToken(family: string, presentedHash: string, nextHash: string, policy: RotationPolicy): Promise<RotationResult>;
  deleteSession(id: string): Promise<SessionRecord | undefined>;
  deleteUserSessions(userId: string): Promise<SessionRecord[]>;
  /** Removes sessions past their absolute limit or whose refresh token died idle; returns how many. */
  deleteExpired(now: number, idleMs: number): Promise<number>;
  /** How many sessions the store holds (metrics, readiness). */
  countSessions(): Promise<number>;
  /** Every session of a user (admin `sessions list`). */
  listUserSessions(userId: string): Promise<SessionRecord[]>;
  /**
   * One page of every stored session (admin `sessions copy`): start with `undefined`, pass the returned
   * cursor back for the next page; it is `undefined` after the last. A page may hold fewer than `limit`, and a
   * session may appear twice (Redis SCAN) but none is left out.
   */
  sessionsAfter(cursor: string | undefined, limit: number): Promise<SessionPage>;
  /**
   * Sessions ended after `cursor` by any process sharing the store (another worker, the admin command),
   * so their cached copies can be dropped. `undefined` asks for the current cursor only.
   */
  revokedSince(cursor: string | undefined): Promise<RevocationFeed>;
  /**
   * A cheap write, for readiness: rejects when the store cannot take writes (disk full, read-only, a SQLite
   * file deleted or replaced under the gateway, a Redis refusing writes) even while reads still work.
   */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}
