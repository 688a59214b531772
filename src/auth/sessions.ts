/**
 * Login sessions: starting one, continuing it by refresh, checking its access tokens, ending it.
 * The hot path (`authenticate`) reads an in-process cache first, so a cache hit costs no I/O.
 */
import NodeCache from "node-cache";
import type { Clock, RandomBytes } from "../clock.js";
import type { Config } from "../config/schema.js";
import { unknownToken } from "../http/errors.js";
import type { OAuthGrant, RequestSession, SessionRecord, Store } from "../store/store.js";
import type { AccessTokens } from "./access-token.js";
import { issueRefreshToken, newFamily, parseRefreshToken, type RefreshTokenKind } from "./refresh-token.js";

/** What a request needs once its token is checked. */
export interface ActiveSession {
  id: string;
  userId: string;
  deviceId: string;
  upstreamToken: string;
  expiresAt: number;
}

export interface TokenGrant {
  accessToken: string;
  refreshToken: string | undefined;
  expiresInMs: number;
  session: SessionRecord;
}

export type RefreshOutcome =
  | { ok: true; grant: TokenGrant; retried: boolean }
  | { ok: false; reason: "malformed" | "unknown" | "expired" | "theft" | "sibling"; session?: SessionRecord };

export interface NewSession {
  userId: string;
  deviceId: string;
  upstreamToken: string;
  refreshable: boolean;
  /** The session's id when the caller chose it already (an OAuth code names its session before it is exchanged). */
  id?: string;
  /** An OAuth login: its client and scope; its refresh tokens are of the OAuth kind (`auth/refresh-token.ts`). */
  oauth?: OAuthGrant;
}

export interface SessionServiceOptions {
  store: Store;
  accessTokens: AccessTokens;
  tokens: Config["tokens"];
  cache: { ttlMs: number; size: number };
  clock: Clock;
  random: RandomBytes;
  /** Told whether each hot-path lookup was served from the cache (metrics). */
  onCacheLookup?: (hit: boolean) => void;
  /**
   * How often to read the store's revocation feed, so a session ended by another process (a worker,
   * the admin command) stops working here too. 0 turns it off.
   */
  revocationPollMs?: number;
  onError?: (error: unknown) => void;
}

export type SessionService = ReturnType<typeof createSessionService>;

/** Hex, not base64url: an id that began with "-" would read as an option to `sessions revoke --session`. */
export function newSessionId(random: RandomBytes): string {
  return random(16).toString("hex");
}

/** A token names its session and its user: both must match what the store holds. */
function ownedBy(session: ActiveSession, userId: string): ActiveSession {
  if (session.userId !== userId) throw unknownToken();
  return session;
}

export function createSessionService(options: SessionServiceOptions) {
  const { store, accessTokens, tokens, clock, random, onCacheLookup } = options;
  const cache = new NodeCache({
    stdTTL: Math.max(1, Math.floor(options.cache.ttlMs / 1000)),
    checkperiod: 60,
    useClones: false,
    maxKeys: options.cache.size,
  });
  const maxKeys = options.cache.size;

  let feedCursor: string | undefined;
  let polling = false;
  const pollRevocations = async () => {
    if (polling) return;
    polling = true;
    try {
      const feed = await store.revokedSince(feedCursor);
      for (const id of feed.sessionIds) cache.del(id);
      feedCursor = feed.cursor;
    } catch (error) {
      options.onError?.(error);
    } finally {
      polling = false;
    }
  };
  const poller = options.revocationPollMs ? setInterval(pollRevocations, options.revocationPollMs) : undefined;
  poller?.unref();
  if (poller) void pollRevocations();

  const remember = (session: RequestSession): ActiveSession => {
    const active: ActiveSession = {
      id: session.id,
      userId: session.userId,
      deviceId: session.deviceId,
      upstreamToken: session.upstreamToken,
      expiresAt: session.expiresAt,
    };
    // A full cache is a speed-up missed, not an error: the store answers next time. Asked first, because
    // node-cache's ECACHEFULL is a thrown Error, whose stack capture would cost every miss while full.
    if (cache.getStats().keys < maxKeys) cache.set(session.id, active);
    return active;
  };

  /** A session read from the store on a cache miss: remembered, or the token refused when it is gone. */
  const storedSession = (record: RequestSession | undefined, userId: string): ActiveSession => {
    if (!record) throw unknownToken();
    return ownedBy(remember(record), userId);
  };

  const grant = (session: SessionRecord, refreshToken: string | undefined, ttlMs: number): TokenGrant => {
    // One reading of the clock: a second one a millisecond later would report 299999 for a 5m lifetime.
    const now = clock.now();
    const expiresAt = Math.min(now + ttlMs, session.expiresAt);
    return {
      accessToken: accessTokens.issue(session.userId, session.id, expiresAt),
      refreshToken,
      expiresInMs: expiresAt - now,
      session,
    };
  };

  return {
    /** Starts a session after a successful login. */
    async start(input: NewSession): Promise<TokenGrant> {
      const now = clock.now();
      const family = input.refreshable ? newFamily(random, input.oauth ? "oauth" : "matrix") : undefined;
      const refresh = family ? issueRefreshToken(family, random) : undefined;
      const session: SessionRecord = {
        id: input.id ?? newSessionId(random),
        userId: input.userId,
        deviceId: input.deviceId,
        upstreamToken: input.upstreamToken,
        createdAt: now,
        expiresAt: now + (input.refreshable ? tokens.session_max_age : Math.min(tokens.nonrefreshable_access_ttl, tokens.session_max_age)),
        refresh: refresh
          ? { family: refresh.family, currentHash: refresh.hash, currentIssuedAt: now, previousHash: null, previousUsedAt: null }
          : null,
      };
      if (input.oauth) session.oauth = { ...input.oauth };
      await store.createSession(session, tokens.refresh_ttl);
      remember(session);
      return grant(session, refresh?.token, input.refreshable ? tokens.access_ttl : tokens.nonrefreshable_access_ttl);
    },

    /**
     * Exchanges a refresh token for a new pair, by the contract's rotation rules. `kind`: the API asking
     * (`/refresh` or the OAuth token endpoint); a token of the other kind is refused as malformed.
     */
    async refresh(presented: string, kind: RefreshTokenKind = "matrix"): Promise<RefreshOutcome> {
      const parsed = parseRefreshToken(presented, kind);
      if (!parsed) return { ok: false, reason: "malformed" };
      const next = issueRefreshToken(parsed.family, random);
      const result = await store.rotateRefreshToken(parsed.family, parsed.hash, next.hash, {
        now: clock.now(),
        graceMs: tokens.refresh_reuse_grace,
        idleMs: tokens.refresh_ttl,
      });
      switch (result.kind) {
        case "rotated":
        case "retried":
          return { ok: true, grant: grant(result.session, next.token, tokens.access_ttl), retried: result.kind === "retried" };
        case "theft":
          cache.del(result.session.id);
          return { ok: false, reason: "theft", session: result.session };
        case "sibling":
          // Another tab's pair carried the session on: this one is refused, the session stays.
          return { ok: false, reason: "sibling", session: result.session };
        default:
          return { ok: false, reason: result.kind };
      }
    },

    /**
     * The session behind a valid access token; a 401 MatrixError otherwise (thrown at once for a bad
     * token). A cache hit answers synchronously, with no promise to wait for: that is nearly every request.
     */
    authenticate(token: string, options?: { allowExpired?: boolean }): ActiveSession | Promise<ActiveSession> {
      const claims = accessTokens.verify(token, options);
      const cached = cache.get<ActiveSession>(claims.sid);
      onCacheLookup?.(cached !== undefined);
      if (cached !== undefined) return ownedBy(cached, claims.sub);
      // SQLite answers a miss synchronously too (store.ts): no promise then.
      const found = store.getRequestSession(claims.sid);
      if (found instanceof Promise) return found.then((record) => storedSession(record, claims.sub));
      return storedSession(found, claims.sub);
    },

    /** Ends one session; returns it so the caller can log its upstream session out. */
    async revoke(sessionId: string): Promise<SessionRecord | undefined> {
      cache.del(sessionId);
      return store.deleteSession(sessionId);
    },

    /** Ends every session of a user. */
    async revokeUser(userId: string): Promise<SessionRecord[]> {
      const removed = await store.deleteUserSessions(userId);
      for (const session of removed) cache.del(session.id);
      return removed;
    },

    /** Drops sessions past their limits from the store. */
    async sweep(): Promise<number> {
      return store.deleteExpired(clock.now(), tokens.refresh_ttl);
    },

    /** The session a refresh token (of any state) belongs to, if it is still alive. */
    async byRefreshToken(presented: string, kind: RefreshTokenKind): Promise<SessionRecord | undefined> {
      const parsed = parseRefreshToken(presented, kind);
      return parsed && store.getSessionByFamily(parsed.family);
    },

    /** Every session of a user, as stored. */
    list(userId: string): Promise<SessionRecord[]> {
      return store.listUserSessions(userId);
    },

    close(): void {
      if (poller) clearInterval(poller);
      cache.close();
    },
  };
}
