/**
 * What the OAuth 2.0 API keeps in the store, the same cases against every backend: memory, SQLite, and Redis
 * when `REDIS_URL` is set. A session's grant through every read, sessions by refresh family, clients that
 * outlive the process, codes used once under concurrent callers, expiry boundaries, the sweep of expired
 * codes, and the homeserver credential of a code sealed at rest.
 */
import crypto from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import t, { type Test } from "tap";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createMemoryStore } from "../../src/store/memory.js";
import { createRedisStore } from "../../src/store/redis.js";
import { createSqliteStore } from "../../src/store/sqlite.js";
import type { AuthorizationCode, OAuthClient, SessionRecord, Store } from "../../src/store/store.js";

const REDIS_URL = process.env.REDIS_URL;
const HOUR = 3_600_000;
const ALICE = "@alice:example.org";
const BOB = "@bob:example.org";
const GRANT = { clientId: "client-a", scope: "urn:matrix:client:api:* urn:matrix:client:device:OAUTHDEV openid" };
const H = (label: string) => crypto.createHash("sha256").update(label).digest("base64url");
const policy = (now: number) => ({ now, graceMs: 30_000, idleMs: HOUR });

/** One backend's state, as seen by one or more store instances. */
interface Fixture {
  store: Store;
  /** Another store on the same state (another connection, like another process); memory: the same store. */
  another(): Store;
  /** Closes `store` and opens the state anew (a restart), or `undefined` where nothing outlives the process. */
  reopen: (() => Promise<Store>) | undefined;
  /** Everything stored for a code or a session, as text, or `undefined` where nothing is stored outside the process. */
  rawCode: ((hash: string) => Promise<string>) | undefined;
  rawSession: ((id: string) => Promise<string>) | undefined;
}

const cipher = createCredentialCipher(crypto.randomBytes(32));

const backends: [name: string, open: (t: Test) => Fixture][] = [
  [
    "memory",
    (t) => {
      const store = createMemoryStore();
      t.teardown(() => store.close());
      return { store, another: () => store, reopen: undefined, rawCode: undefined, rawSession: undefined };
    },
  ],
  [
    "sqlite",
    (t) => {
      const file = path.join(t.testdir({}), "gateway.sqlite");
      const opened: Store[] = [];
      const open = () => {
        const store = createSqliteStore(file, cipher);
        opened.push(store);
        return store;
      };
      t.teardown(() => Promise.all(opened.map((s) => s.close())));
      const raw = (sql: string, key: string) => {
        const db = new Database(file, { readonly: true });
        try {
          return JSON.stringify(db.prepare(sql).get(key));
        } finally {
          db.close();
        }
      };
      const fixture: Fixture = {
        store: open(),
        another: open,
        reopen: async () => {
          await fixture.store.close();
          return open();
        },
        rawCode: async (hash) => raw("SELECT * FROM oauth_codes WHERE hash = ?", hash),
        rawSession: async (id) => raw("SELECT * FROM sessions WHERE id = ?", id),
      };
      return fixture;
    },
  ],
];
if (REDIS_URL) {
  backends.push([
    "redis",
    (t) => {
      const prefix = `test:${crypto.randomUUID()}:`;
      const opened: Store[] = [];
      const open = () => {
        const store = createRedisStore({ url: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 2000 }, cipher);
        opened.push(store);
        return store;
      };
      const raw = new Redis(REDIS_URL);
      t.teardown(async () => {
        await Promise.all(opened.map((s) => s.close()));
        await removeKeys(raw, prefix);
        raw.disconnect();
      });
      const fixture: Fixture = {
        store: open(),
        another: open,
        reopen: async () => {
          await fixture.store.close();
          return open();
        },
        rawCode: async (hash) => JSON.stringify(await raw.hgetall(`${prefix}oauthcode:${hash}`)),
        rawSession: async (id) => JSON.stringify(await raw.hgetall(`${prefix}session:${id}`)),
      };
      return fixture;
    },
  ]);
} else {
  t.comment("REDIS_URL is not set: the Redis store is left out (.ci/run starts one)");
}

/** Clients never expire, codes a day late: leave nothing behind in a Redis other tests walk with SCAN. */
async function removeKeys(raw: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length) await raw.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** Times near the real clock: Redis expires keys by it. */
function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: crypto.randomUUID(),
    userId: ALICE,
    deviceId: "DEV",
    upstreamToken: `syt_${crypto.randomUUID()}`,
    createdAt: now,
    expiresAt: now + HOUR,
    refresh: { family: `o.${crypto.randomUUID()}`, currentHash: H("t0"), currentIssuedAt: now, previousHash: null, previousUsedAt: null },
    ...overrides,
  };
}

function code(expiresAt: number, overrides: Partial<AuthorizationCode> = {}): AuthorizationCode {
  return {
    hash: H(crypto.randomUUID()),
    clientId: GRANT.clientId,
    redirectUri: "https://app.example.org/callback",
    scope: GRANT.scope,
    codeChallenge: H("verifier"),
    nonce: "nonce-1",
    userId: ALICE,
    deviceId: "OAUTHDEV",
    upstreamToken: `syt_code_${crypto.randomUUID()}`,
    sessionId: crypto.randomUUID(),
    createdAt: expiresAt - 300_000,
    expiresAt,
    ...overrides,
  };
}

const byId = <T extends { id: string }>(list: T[]) => [...list].sort((a, b) => a.id.localeCompare(b.id));
const byHash = (list: AuthorizationCode[]) => [...list].sort((a, b) => a.hash.localeCompare(b.hash));

for (const [name, open] of backends) {
  t.test(`${name}: a session's OAuth grant comes back from every read`, async (t) => {
    const { store } = open(t);
    const granted = session({ oauth: GRANT });
    const plain = session();
    for (const s of [granted, plain]) await store.createSession(s, HOUR);

    t.same(await store.getSession(granted.id), granted, "getSession");
    const plainBack = await store.getSession(plain.id);
    t.same(plainBack, plain, "a /login session");
    t.notOk(plainBack && "oauth" in plainBack, "has no grant at all, not an empty one");
    t.same(byId(await store.listUserSessions(ALICE)), byId([granted, plain]), "listUserSessions");
    const walked: SessionRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.sessionsAfter(cursor, 1);
      walked.push(...page.sessions);
      cursor = page.cursor;
    } while (cursor !== undefined);
    t.same(byId([...new Map(walked.map((s) => [s.id, s])).values()]), byId([granted, plain]), "sessionsAfter");
    t.same(await store.getSessionByFamily(granted.refresh?.family as string), granted, "getSessionByFamily");

    const family = granted.refresh?.family as string;
    const now = Date.now();
    const rotated = await store.rotateRefreshToken(family, H("t0"), H("t1"), policy(now));
    t.match(rotated, { kind: "rotated", session: { id: granted.id, oauth: GRANT } });
    const retried = await store.rotateRefreshToken(family, H("t0"), H("t2"), policy(now + 1000));
    t.match(retried, { kind: "retried", session: { oauth: GRANT } });
    await store.rotateRefreshToken(family, H("t2"), H("t3"), policy(now + 2000));
    const sibling = await store.rotateRefreshToken(family, H("t1"), H("t4"), policy(now + 3000));
    t.match(sibling, { kind: "sibling", session: { oauth: GRANT } });
    t.same((await store.getSession(granted.id))?.oauth, GRANT, "kept through rotations");
    const theft = await store.rotateRefreshToken(family, H("t0"), H("t5"), policy(now + 4000));
    t.match(theft, { kind: "theft", session: { id: granted.id, oauth: GRANT } });

    const one = session({ oauth: { clientId: "client-b", scope: "urn:matrix:client:api:*" } });
    const bobs = [session({ userId: BOB, oauth: GRANT }), session({ userId: BOB })];
    for (const s of [one, ...bobs]) await store.createSession(s, HOUR);
    t.same(await store.deleteSession(one.id), one, "deleteSession returns the grant");
    t.same(byId(await store.deleteUserSessions(BOB)), byId(bobs), "deleteUserSessions returns the grants");
  });

  t.test(`${name}: getSessionByFamily`, async (t) => {
    const { store } = open(t);
    const s = session();
    const kept = session({ oauth: GRANT });
    await store.createSession(s, HOUR);
    await store.createSession(kept, HOUR);
    t.same(await store.getSessionByFamily(s.refresh?.family as string), s, "a /login session's family too");
    t.equal(await store.getSessionByFamily("o.unknown"), undefined, "unknown family");
    await store.deleteSession(s.id);
    t.equal(await store.getSessionByFamily(s.refresh?.family as string), undefined, "gone with its session");
    await store.rotateRefreshToken(kept.refresh?.family as string, H("t0"), H("t1"), { ...policy(Date.now()), graceMs: 0 });
    t.equal((await store.getSessionByFamily(kept.refresh?.family as string))?.refresh?.currentHash, H("t1"), "the rotated state");
    await store.rotateRefreshToken(kept.refresh?.family as string, H("t0"), H("t2"), { ...policy(Date.now()), graceMs: 0 });
    t.equal(await store.getSessionByFamily(kept.refresh?.family as string), undefined, "gone after theft");
  });

  t.test(`${name}: clients are kept, replaced by id, and outlive the process`, async (t) => {
    const fixture = open(t);
    const now = Date.now();
    const native: OAuthClient = {
      id: "client-native",
      metadata: {
        client_name: "Élément ✓",
        application_type: "native",
        redirect_uris: ["io.element.app:/callback", "http://127.0.0.1/callback"],
        token_endpoint_auth_method: "none",
        nested: { list: [1, null, true, "x"], empty: {} },
      },
      createdAt: now,
    };
    const web: OAuthClient = { id: "client-web", metadata: { client_uri: "https://app.example.org/" }, createdAt: now + 1 };
    await fixture.store.saveClient(native);
    await fixture.store.saveClient(web);
    t.same(await fixture.store.getClient(native.id), native);
    t.same(await fixture.another().getClient(web.id), web, "seen by another instance");
    t.equal(await fixture.store.getClient("client-unknown"), undefined);
    const replaced = { ...web, metadata: { client_uri: "https://other.example.org/" }, createdAt: now + 2 };
    await fixture.store.saveClient(replaced);
    t.same(await fixture.store.getClient(web.id), replaced, "the same id again replaces");
    if (!fixture.reopen) {
      t.comment(`${name}: nothing outlives the process`);
      return;
    }
    const reopened = await fixture.reopen();
    t.same(await reopened.getClient(native.id), native, "after a restart");
    t.same(await reopened.getClient(web.id), replaced);
  });

  t.test(`${name}: clientsAfter walks every client, page by page`, async (t) => {
    const { store } = open(t);
    // A page may be empty before the walk ends (Redis SCAN visits other keys of a shared server): walk to the end.
    const walk = async (limit: number) => {
      const seen = new Map<string, OAuthClient>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.clientsAfter(cursor, limit);
        for (const client of page.clients) seen.set(client.id, client);
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined && pages < 100_000);
      return { clients: byId([...seen.values()]), ended: cursor === undefined };
    };
    t.same(await walk(10), { clients: [], ended: true }, "none yet");
    const made = Array.from({ length: 7 }, (_, i) => ({ id: `client-${i}`, metadata: { n: i }, createdAt: Date.now() + i }));
    for (const client of made) await store.saveClient(client);
    const after = await walk(2);
    t.ok(after.ended, "the walk ends");
    t.same(after.clients, made, "each client, as saved");
  });

  t.test(`${name}: of 20 concurrent uses of a code exactly one is the first`, async (t) => {
    const fixture = open(t);
    const other = fixture.another();
    const expiresAt = Date.now() + 300_000;
    const saved = code(expiresAt);
    await fixture.store.saveCode(saved);
    const uses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? other : fixture.store).takeCode(saved.hash, expiresAt - 60_000)),
    );
    t.equal(uses.filter((u) => u?.firstUse === true).length, 1, "one first use");
    t.equal(uses.filter((u) => u?.firstUse === false).length, 19, "19 later uses");
    t.same(
      uses.map((u) => u?.code),
      Array(20).fill(saved),
      "each gets the code, its homeserver credential opened",
    );
    t.same(await fixture.store.takeCode(saved.hash, expiresAt - 1), { code: saved, firstUse: false }, "until its expiry");
    t.equal(await fixture.store.takeCode(H("unknown"), expiresAt - 1), undefined, "an unknown code");
  });

  t.test(`${name}: a code expires at expiresAt; the sweep hands back expired codes never used`, async (t) => {
    const { store } = open(t);
    const expiresAt = Date.now() + 300_000;
    const used = code(expiresAt, { nonce: undefined });
    const unused = code(expiresAt, { nonce: "" });
    const live = code(expiresAt + 1);
    for (const c of [used, unused, live]) await store.saveCode(c);

    t.same(await store.takeCode(used.hash, expiresAt - 1), { code: used, firstUse: true }, "a millisecond before: usable");
    t.equal(await store.takeCode(unused.hash, expiresAt), undefined, "at expiresAt: expired");
    t.same(await store.takeExpiredCodes(expiresAt - 1), [], "nothing expired a millisecond before");
    t.same(await store.takeExpiredCodes(expiresAt), [unused], "at expiresAt: the unused one, not the used one");
    t.same(await store.takeExpiredCodes(expiresAt), [], "once only");
    t.equal(await store.takeCode(used.hash, expiresAt - 1), undefined, "the used one was removed too");
    t.equal(await store.takeCode(unused.hash, expiresAt - 1), undefined, "the unused one is gone");
    t.same(await store.takeCode(live.hash, expiresAt), { code: live, firstUse: true }, "a code not yet expired stays");
  });

  t.test(`${name}: several sweeps at once hand each expired unused code to exactly one`, async (t) => {
    const fixture = open(t);
    const other = fixture.another();
    const expiresAt = Date.now() + 300_000;
    const unused = Array.from({ length: 12 }, () => code(expiresAt - Math.floor(Math.random() * 1000)));
    const used = Array.from({ length: 3 }, () => code(expiresAt));
    const live = Array.from({ length: 2 }, () => code(expiresAt + 60_000));
    for (const c of [...unused, ...used, ...live]) await fixture.store.saveCode(c);
    for (const c of used) t.equal((await other.takeCode(c.hash, expiresAt - 5_000))?.firstUse, true);

    const sweeps = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? other : fixture.store).takeExpiredCodes(expiresAt)));
    const all = sweeps.flat();
    t.equal(all.length, unused.length, "no code handed out twice");
    t.same(byHash(all), byHash(unused), "every unused expired code, as saved");
    t.same(
      byHash(await fixture.store.takeExpiredCodes(expiresAt + 60_000)),
      byHash(live),
      "later, the others; the used ones went silently",
    );
  });

  t.test(`${name}: a code's homeserver credential is not stored in clear`, async (t) => {
    const fixture = open(t);
    if (!fixture.rawCode || !fixture.rawSession) {
      t.comment(`${name}: nothing is stored outside the process`);
      return;
    }
    const saved = code(Date.now() + 300_000);
    await fixture.store.saveCode(saved);
    const raw = await fixture.rawCode(saved.hash);
    t.match(raw, saved.sessionId, "the raw record was read");
    t.notMatch(raw, saved.upstreamToken, "the token is not in the stored code");
    const granted = session({ oauth: GRANT });
    await fixture.store.createSession(granted, HOUR);
    const rawSession = await fixture.rawSession(granted.id);
    t.match(rawSession, GRANT.clientId, "the grant is stored with the session");
    t.notMatch(rawSession, granted.upstreamToken, "nor in the stored session");
    t.same((await fixture.store.takeCode(saved.hash, Date.now()))?.code, saved, "it opens again");
  });
}

if (REDIS_URL) {
  t.test("redis: a code's key expires by itself a day after the code; the sweep still finds it before", async (t) => {
    const prefix = `test:${crypto.randomUUID()}:`;
    const store = createRedisStore({ url: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 2000 }, cipher);
    const raw = new Redis(REDIS_URL);
    t.teardown(async () => {
      await store.close();
      await removeKeys(raw, prefix);
      raw.disconnect();
    });
    const expiresAt = Date.now() + 300_000;
    const saved = code(expiresAt);
    const lost = code(expiresAt);
    await store.saveCode(saved);
    await store.saveCode(lost);
    const ttl = await raw.pttl(`${prefix}oauthcode:${saved.hash}`);
    t.ok(ttl > 24 * HOUR && ttl <= 24 * HOUR + 300_000, `the key lives until a day after the code: ${ttl} ms`);
    t.equal(await raw.zscore(`${prefix}oauthcodes`, saved.hash), String(expiresAt), "indexed by expiry");
    await raw.del(`${prefix}oauthcode:${lost.hash}`);
    t.same(await store.takeExpiredCodes(expiresAt), [saved], "a code whose key is gone is skipped");
    t.equal(await raw.zcard(`${prefix}oauthcodes`), 0, "the index is emptied");
    t.equal(await raw.exists(`${prefix}oauthcode:${saved.hash}`), 0, "the key is deleted");
  });
}
