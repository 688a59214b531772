/**
 * The OAuth 2.0 API's state in the Redis store (`redis.ts`), shared by every instance:
 *   oauthclient:{id}    hash of a registered client (metadata as JSON); never expires
 *   oauthcode:{hash}    hash of an authorization code, by the SHA-256 of the code; upstream credential sealed
 *   oauthcodes          sorted set of code hashes by expiry, for the sweep of expired codes
 * A code's key expires by itself a day after the code does: a backstop for a store nobody sweeps. The sweep
 * (`takeExpiredCodes`) finds expired codes through the sorted set well before that, so the homeserver session
 * of a code never exchanged is logged out even though Redis would have dropped the key silently.
 */
import type { Redis } from "ioredis";
import type { CredentialCipher } from "./credential-cipher.js";
import type { AuthorizationCode, OAuthClient, Store } from "./store.js";

/** How long a code's key outlives the code: long enough for a sweep after an outage of the whole gateway. */
const CODE_KEY_GRACE_MS = 24 * 3_600_000;
/** Expired codes claimed per round trip of the sweep. */
const SWEEP_BATCH = 100;

/**
 * KEYS: the code. ARGV: now (ms). Nothing (nil) for an unknown or expired code; otherwise 1 for its first use
 * (HSETNX sets `used` once, so of several instances exactly one sees 1) or 0, then the code's fields.
 */
const TAKE_CODE = `
local expires = redis.call('HGET', KEYS[1], 'expires')
if not expires or tonumber(expires) <= tonumber(ARGV[1]) then return false end
local first = redis.call('HSETNX', KEYS[1], 'used', ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
table.insert(fields, 1, first)
return fields
`;

/**
 * KEYS: the sorted set, then one code key per hash. ARGV: now (ms), then the hashes. Claims each code still
 * in the set and expired (ZREM answers 1 to one caller only, so concurrent sweeps never both take one),
 * deletes its key and returns {hash, fields} for it (fields empty when the key had already expired).
 */
const CLAIM_EXPIRED = `
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= now and redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    out[#out + 1] = {ARGV[i], redis.call('HGETALL', KEYS[i])}
    redis.call('DEL', KEYS[i])
  end
end
return out
`;

type OAuthState = Pick<Store, "saveClient" | "getClient" | "clientsAfter" | "saveCode" | "takeCode" | "takeExpiredCodes">;
type Hash = Record<string, string>;

interface Scripts {
  magTakeCode(key: string, now: number): Promise<(string | number)[] | null>;
  magClaimExpiredCodes(...args: (string | number)[]): Promise<[hash: string, fields: string[]][]>;
}

export function createRedisOAuthState(redis: Redis, prefix: string, cipher: CredentialCipher): OAuthState {
  redis.defineCommand("magTakeCode", { numberOfKeys: 1, lua: TAKE_CODE });
  redis.defineCommand("magClaimExpiredCodes", { lua: CLAIM_EXPIRED });
  const scripts = redis as unknown as Scripts;

  const clientKey = (id: string) => `${prefix}oauthclient:${id}`;
  const codeKey = (hash: string) => `${prefix}oauthcode:${hash}`;
  const codesByExpiry = `${prefix}oauthcodes`;

  const getClient = async (id: string): Promise<OAuthClient | undefined> => {
    const h = (await redis.hgetall(clientKey(id))) as Hash;
    if (h.metadata === undefined) return undefined;
    return { id, metadata: JSON.parse(h.metadata) as Record<string, unknown>, createdAt: Number(h.created) };
  };

  const codeOf = (hash: string, h: Hash): AuthorizationCode => ({
    hash,
    clientId: h.client as string,
    redirectUri: h.redirect as string,
    scope: h.scope as string,
    codeChallenge: h.challenge as string,
    nonce: h.nonce,
    userId: h.user as string,
    deviceId: h.device as string,
    upstreamToken: cipher.open(h.upstream as string),
    sessionId: h.session as string,
    createdAt: Number(h.created),
    expiresAt: Number(h.expires),
  });

  return {
    async saveClient(client) {
      await redis.hset(clientKey(client.id), { metadata: JSON.stringify(client.metadata), created: String(client.createdAt) });
    },
    getClient,
    async clientsAfter(cursor, limit) {
      // SCAN, like `sessionsAfter`: a client may appear on two pages, none is left out.
      const [next, keys] = await redis.scan(cursor ?? "0", "MATCH", `${prefix}oauthclient:*`, "COUNT", limit);
      const clients = await Promise.all(keys.map((key) => getClient(key.slice(`${prefix}oauthclient:`.length))));
      return { clients: clients.filter((c) => c !== undefined), cursor: next === "0" ? undefined : next };
    },
    async saveCode(code) {
      const fields: Hash = {
        client: code.clientId,
        redirect: code.redirectUri,
        scope: code.scope,
        challenge: code.codeChallenge,
        user: code.userId,
        device: code.deviceId,
        upstream: cipher.seal(code.upstreamToken),
        session: code.sessionId,
        created: String(code.createdAt),
        expires: String(code.expiresAt),
      };
      // Absent, not "", when the request had none: an empty nonce is still a nonce.
      if (code.nonce !== undefined) fields.nonce = code.nonce;
      await redis
        .multi()
        .hset(codeKey(code.hash), fields)
        .pexpireat(codeKey(code.hash), code.expiresAt + CODE_KEY_GRACE_MS)
        .zadd(codesByExpiry, code.expiresAt, code.hash)
        .exec();
    },
    async takeCode(hash, now) {
      const reply = await scripts.magTakeCode(codeKey(hash), now);
      if (!reply) return undefined;
      const [first, ...flat] = reply as [number, ...string[]];
      return { code: codeOf(hash, pairs(flat)), firstUse: first === 1 };
    },
    async takeExpiredCodes(now) {
      const unused: AuthorizationCode[] = [];
      for (;;) {
        const hashes = await redis.zrangebyscore(codesByExpiry, "-inf", now, "LIMIT", 0, SWEEP_BATCH);
        if (hashes.length === 0) break;
        const claimed = await scripts.magClaimExpiredCodes(1 + hashes.length, codesByExpiry, ...hashes.map(codeKey), now, ...hashes);
        for (const [hash, flat] of claimed) {
          const h = pairs(flat);
          // Gone already (the sweep came after the key's grace), or exchanged: nothing to hand back.
          if (h.expires !== undefined && h.used === undefined) unused.push(codeOf(hash, h));
        }
        if (hashes.length < SWEEP_BATCH) break;
      }
      return unused;
    },
  };
}

/** HGETALL's flat reply from a script ([field, value, …]) as an object. */
function pairs(flat: string[]): Hash {
  const h: Hash = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i] as string] = flat[i + 1] as string;
  return h;
}
