/**
 * Sessions in Redis, shared by several gateway instances.
 *
 * Layout (every key under `store.redis.key_prefix`):
 *   session:{id}       hash of the session; upstream credential sealed (AES-256-GCM)
 *   family:{family}    the session id of a refresh-token chain
 *   user:{user_id}     set of the user's session ids
 *   revocations        stream of ended session ids, read by every instance to drop cached copies
 *   health             written by the readiness probe (expires after 10 s)
 *   oauthclient:…, oauthcode:…, oauthcodes   the OAuth 2.0 API's clients and codes (`redis-oauth.ts`)
 * Session keys expire by themselves (absolute limit, or the refresh token's idle limit), so nothing sweeps
 * them. A session started through the OAuth 2.0 API has its grant in two more fields of its hash.
 *
 * A rotation reads the session, decides with the shared rules (`auth/rotation.ts`), then applies the
 * outcome with a compare-and-set script that succeeds only if the refresh state is still the one read;
 * on a conflict (another instance rotated in between) it reads and decides again.
 */
import { Redis, type RedisOptions } from "ioredis";
import { decideRotation, MAX_SIBLINGS, nextRefreshState } from "../auth/rotation.js";
import type { CredentialCipher } from "./credential-cipher.js";
import { createRedisOAuthState } from "./redis-oauth.js";
import type { RefreshState, RotationResult, SessionRecord, Store } from "./store.js";

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  /** How long revocation records are kept in the stream (entries, approximately). */
  revocationStreamLength?: number;
}

/**
 * Conflicting rotations of one chain retry this often before giving up (they only collide under a race).
 * Each conflicting round lets one contender through, so N tabs refreshing with one token at once need up to
 * N rounds; past `MAX_SIBLINGS` the rest are refused without writing, so that many (plus a margin) suffice.
 */
const MAX_ROTATION_ATTEMPTS = MAX_SIBLINGS + 8;

/**
 * KEYS: session, family, user, revocations. ARGV: expected refresh hash, expected previous hash ("" = none),
 * action ("update" | "delete"), then for update: hash, issued, previous hash, previous used, expire-at (ms),
 * sibling hashes, superseded hashes (space-separated, "" = none); for delete: session id. Returns 1 when
 * applied, 0 when the refresh state changed since it was read (every update issues a new random current hash,
 * so comparing it, with the previous one, sees any write in between).
 */
const COMPARE_AND_SET = `
local current = redis.call('HMGET', KEYS[1], 'rhash', 'prevhash')
if current[1] ~= ARGV[1] or (current[2] or '') ~= ARGV[2] then return 0 end
if ARGV[3] == 'delete' then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[4])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[4])
  return 1
end
redis.call('HSET', KEYS[1], 'rhash', ARGV[4], 'rissued', ARGV[5], 'prevhash', ARGV[6], 'prevused', ARGV[7],
  'siblings', ARGV[9], 'superseded', ARGV[10])
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
redis.call('PEXPIREAT', KEYS[2], ARGV[8])
return 1
`;

type Hash = Record<string, string>;

/** The write probe's key lives this long (milliseconds). */
const HEALTH_KEY_TTL_MS = 10_000;

export function createRedisStore(options: RedisStoreOptions, cipher: CredentialCipher, redisOptions: RedisOptions = {}): Store {
  const prefix = options.keyPrefix;
  const streamLength = String(options.revocationStreamLength ?? 100_000);
  const redis = new Redis(options.url, {
    // Until the first connection, commands wait for it (bounded by commandTimeout); after that a dead
    // Redis fails them at once (503), never queueing: the gateway never waits on a Redis that is gone.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs),
    ...redisOptions,
  });
  redis.once("ready", () => {
    redis.options.enableOfflineQueue = false;
  });
  redis.on("error", () => {
    // Connection errors surface as failed commands (503 for the client, counted); ioredis reconnects by itself.
  });
  redis.defineCommand("magCompareAndSet", { numberOfKeys: 4, lua: COMPARE_AND_SET });
  const cas = (redis as unknown as { magCompareAndSet(...args: (string | number)[]): Promise<number> }).magCompareAndSet.bind(redis);

  const sessionKey = (id: string) => `${prefix}session:${id}`;
  const familyKey = (family: string) => `${prefix}family:${family}`;
  const userKey = (userId: string) => `${prefix}user:${userId}`;
  const revocationsKey = `${prefix}revocations`;

  const toRecord = (id: string, h: Hash): SessionRecord => ({
    id,
    userId: h.user as string,
    deviceId: h.device as string,
    upstreamToken: cipher.open(h.upstream as string),
    createdAt: Number(h.created),
    expiresAt: Number(h.expires),
    refresh: h.family ? refreshOf(h) : null,
    // Left out for /login sessions, as the other stores leave it.
    ...(h.oauth_client && { oauth: { clientId: h.oauth_client, scope: h.oauth_scope ?? "" } }),
  });

  const load = async (id: string): Promise<SessionRecord | undefined> => {
    const h = (await redis.hgetall(sessionKey(id))) as Hash;
    return h.user ? toRecord(id, h) : undefined;
  };

  /** The absolute limit, or sooner the idle limit of the current refresh token. */
  const expireAt = (expiresAt: number, refresh: RefreshState | null, idleMs: number) =>
    refresh ? Math.min(expiresAt, refresh.currentIssuedAt + idleMs) : expiresAt;

  const revoke = async (session: SessionRecord): Promise<void> => {
    const multi = redis.multi().del(sessionKey(session.id)).srem(userKey(session.userId), session.id);
    if (session.refresh) multi.del(familyKey(session.refresh.family));
    multi.xadd(revocationsKey, "MAXLEN", "~", streamLength, "*", "id", session.id);
    await multi.exec();
  };

  return {
    async createSession(s, idleMs) {
      const fields: Hash = {
        user: s.userId,
        device: s.deviceId,
        upstream: cipher.seal(s.upstreamToken),
        created: String(s.createdAt),
        expires: String(s.expiresAt),
      };
      if (s.refresh) {
        Object.assign(fields, {
          family: s.refresh.family,
          rhash: s.refresh.currentHash,
          rissued: String(s.refresh.currentIssuedAt),
          prevhash: s.refresh.previousHash ?? "",
          prevused: s.refresh.previousUsedAt === null ? "" : String(s.refresh.previousUsedAt),
          siblings: joinHashes(s.refresh.siblingHashes),
          superseded: joinHashes(s.refresh.supersededHashes),
        });
      }
      if (s.oauth) Object.assign(fields, { oauth_client: s.oauth.clientId, oauth_scope: s.oauth.scope });
      // Without the idle limit (older callers), the absolute one bounds the key until the first rotation.
      const until = idleMs === undefined ? s.expiresAt : expireAt(s.expiresAt, s.refresh, idleMs);
      const multi = redis.multi().hset(sessionKey(s.id), fields).pexpireat(sessionKey(s.id), until).sadd(userKey(s.userId), s.id);
      // The user's set lives as long as their longest session. GT alone never sets a first expiry (a key
      // without one counts as infinite), so NX gives the new set its first.
      multi.pexpireat(userKey(s.userId), s.expiresAt, "NX").pexpireat(userKey(s.userId), s.expiresAt, "GT");
      if (s.refresh) multi.set(familyKey(s.refresh.family), s.id, "PXAT", until);
      await multi.exec();
    },

    getSession: load,
    // One HGETALL either way; the refresh state it also reads costs Redis nothing worth a second script.
    getRequestSession: load,

    async rotateRefreshToken(family, presentedHash, nextHash, policy): Promise<RotationResult> {
      for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
        const id = await redis.get(familyKey(family));
        const session = id === null ? undefined : await load(id);
        if (!session?.refresh) return { kind: "unknown" };
        const state = session.refresh;
        const decision = decideRotation(state, session.expiresAt, presentedHash, policy);
        if (decision === "expired") return { kind: "expired" };
        const keys = [sessionKey(session.id), familyKey(family), userKey(session.userId), revocationsKey];
        const expected = [state.currentHash, state.previousHash ?? ""];
        if (decision === "theft") {
          if (await cas(...keys, ...expected, "delete", session.id, streamLength)) return { kind: "theft", session };
          continue;
        }
        // Nothing to write: a state read a moment ago decides a refusal as well as the latest would.
        if (decision === "sibling") return { kind: "sibling", session };
        const next = nextRefreshState(state, decision, presentedHash, nextHash, policy.now);
        const until = expireAt(session.expiresAt, next, policy.idleMs);
        const applied = await cas(
          ...keys,
          ...expected,
          "update",
          next.currentHash,
          next.currentIssuedAt,
          next.previousHash ?? "",
          next.previousUsedAt ?? "",
          until,
          joinHashes(next.siblingHashes),
          joinHashes(next.supersededHashes),
        );
        if (applied) return { kind: decision === "rotate" ? "rotated" : "retried", session: { ...session, refresh: next } };
      }
      throw new Error("refresh rotation kept conflicting");
    },

    async deleteSession(id) {
      const session = await load(id);
      if (session) await revoke(session);
      return session;
    },

    async deleteUserSessions(userId) {
      const ids = await redis.smembers(userKey(userId));
      const sessions = (await Promise.all(ids.map(load))).filter((s): s is SessionRecord => s !== undefined);
      for (const session of sessions) await revoke(session);
      await redis.del(userKey(userId));
      return sessions;
    },

    async deleteExpired() {
      return 0; // keys expire by themselves
    },

    async countSessions() {
      let count = 0;
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}session:*`, "COUNT", 1000);
        cursor = next;
        count += keys.length;
      } while (cursor !== "0");
      return count;
    },

    async sessionsAfter(cursor, limit) {
      const [next, keys] = await redis.scan(cursor ?? "0", "MATCH", `${prefix}session:*`, "COUNT", limit);
      const sessions = await Promise.all(keys.map((key) => load(key.slice(`${prefix}session:`.length))));
      return { sessions: sessions.filter((s): s is SessionRecord => s !== undefined), cursor: next === "0" ? undefined : next };
    },

    async listUserSessions(userId) {
      const ids = await redis.smembers(userKey(userId));
      const sessions = await Promise.all(ids.map(load));
      const gone = ids.filter((_, i) => sessions[i] === undefined);
      if (gone.length) await redis.srem(userKey(userId), ...gone);
      return sessions.filter((s): s is SessionRecord => s !== undefined);
    },

    async revokedSince(cursor) {
      if (cursor === undefined) {
        const last = await redis.xrevrange(revocationsKey, "+", "-", "COUNT", 1);
        return { sessionIds: [], cursor: last[0]?.[0] ?? "0-0" };
      }
      const entries = await redis.xrange(revocationsKey, `(${cursor}`, "+", "COUNT", 10_000);
      const sessionIds = entries.map(([, fields]) => fields[1] as string);
      return { sessionIds, cursor: entries.length ? (entries[entries.length - 1] as [string, string[]])[0] : cursor };
    },

    async probeWrite() {
      // Short-lived, so the key never outlives the instances that write it. A Redis that refuses writes
      // (a replica, `min-replicas-to-write`, out of memory under `noeviction`) rejects this.
      await redis.set(`${prefix}health`, String(Date.now()), "PX", HEALTH_KEY_TTL_MS);
    },

    async getSessionByFamily(family) {
      const id = await redis.get(familyKey(family));
      const session = id === null ? undefined : await load(id);
      return session?.refresh?.family === family ? session : undefined;
    },

    ...createRedisOAuthState(redis, prefix, cipher),

    async close() {
      redis.disconnect();
    },
  };
}

function refreshOf(h: Hash): RefreshState {
  const state: RefreshState = {
    family: h.family as string,
    currentHash: h.rhash as string,
    currentIssuedAt: Number(h.rissued),
    previousHash: h.prevhash || null,
    previousUsedAt: h.prevused ? Number(h.prevused) : null,
  };
  // Left out when empty, as `nextRefreshState` leaves them (and absent in sessions written before siblings).
  if (h.siblings) state.siblingHashes = h.siblings.split(" ");
  if (h.superseded) state.supersededHashes = h.superseded.split(" ");
  return state;
}

/** Hashes are base64url, so a space separates them safely; "" is none. */
function joinHashes(hashes: string[] | undefined): string {
  return hashes?.length ? hashes.join(" ") : "";
}
