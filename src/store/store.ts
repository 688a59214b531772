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
  /** Sessions started through the OAuth 2.0 API: which client, with which scope. Absent for `/login` sessions. */
  oauth?: OAuthGrant;
}

/** What an OAuth login granted (kept with its session; shown by `sessions list` and the account page). */
export interface OAuthGrant {
  clientId: string;
  /** The granted scope, space-separated, as answered by the token endpoint. */
  scope: string;
}

/** A client registered through OAuth 2.0 dynamic client registration (RFC 7591). */
export interface OAuthClient {
  id: string;
  /** The registered metadata, as answered to the registration (validated by `oauth/`; opaque to the store). */
  metadata: Record<string, unknown>;
  createdAt: number;
}

/**
 * An authorization code (RFC 6749 §4.1.2): the outcome of a login on the authorization page, waiting to be
 * exchanged at the token endpoint. The homeserver login already happened, so the code carries its credential
 * (sealed at rest, like a session's); a code that expires unexchanged is handed back by `takeExpiredCodes` so
 * that homeserver session can be logged out.
 */
export interface AuthorizationCode {
  /** SHA-256 of the code (base64url): the code itself is never stored. */
  hash: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  /** PKCE S256 challenge (RFC 7636). */
  codeChallenge: string;
  /** OpenID Connect `nonce`, echoed in the ID token. */
  nonce: string | undefined;
  userId: string;
  deviceId: string;
  upstreamToken: string;
  /** The id the session will have once exchanged, chosen up front so that a replayed code can revoke it. */
  sessionId: string;
  createdAt: number;
  expiresAt: number;
}

/** What `takeCode` found: the code, and whether this was its first use (a second one is an attack). */
export interface CodeUse {
  code: AuthorizationCode;
  firstUse: boolean;
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

export interface ClientPage {
  clients: OAuthClient[];
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
  /** The session of a refresh-token family (OAuth revocation by refresh token). */
  getSessionByFamily(family: string): Promise<SessionRecord | undefined>;
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
  /** Keeps a registered OAuth client (for good: clients are not expired). */
  saveClient(client: OAuthClient): Promise<void>;
  getClient(id: string): Promise<OAuthClient | undefined>;
  /** One page of every registered client (admin `sessions copy`), paged like `sessionsAfter`. */
  clientsAfter(cursor: string | undefined, limit: number): Promise<ClientPage>;
  /** Keeps an authorization code until its `expiresAt`. */
  saveCode(code: AuthorizationCode): Promise<void>;
  /**
   * Uses a code, atomically: the first call for `hash` before `expiresAt` gets `firstUse: true`; any later
   * call, until the code's expiry, gets the same code with `firstUse: false` (so the caller can revoke the
   * session it created); `undefined` for an unknown or expired code.
   */
  takeCode(hash: string, now: number): Promise<CodeUse | undefined>;
  /**
   * Removes codes past their expiry and returns those that were never used (their homeserver sessions are
   * logged out by the caller). Used codes past expiry are removed silently.
   */
  takeExpiredCodes(now: number): Promise<AuthorizationCode[]>;
  close(): Promise<void>;
}
