/**
 * The Redis store against a real Redis (`REDIS_URL`, started by .ci/run); skipped without one.
 * Each test uses its own key prefix, so runs never see each other's keys.
 */
import crypto from "node:crypto";
import { Redis } from "ioredis";
import t, { type Test } from "tap";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createRedisStore } from "../../src/store/redis.js";
import type { SessionRecord, Store } from "../../src/store/store.js";

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) {
  t.plan(0, "REDIS_URL is not set: no Redis to test against (.ci/run starts one)");
  process.exit(0);
}

const cipher = createCredentialCipher(crypto.randomBytes(32));
const H = (label: string) => crypto.createHash("sha256").update(label).digest("base64url");
const HOUR = 3_600_000;

function open(t: Test, prefix = `test:${crypto.randomUUID()}:`): { store: Store; prefix: string } {
  const store = createRedisStore({ url: REDIS_URL as string, keyPrefix: prefix, commandTimeoutMs: 1000 }, cipher);
  t.teardown(() => store.close());
  return { store, prefix };
}

function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: crypto.randomUUID(),
    userId: "@alice:example.org",
    deviceId: "DEV",
    upstreamToken: `syt_${crypto.randomUUID()}`,
    createdAt: now,
    expiresAt: now + HOUR,
    refresh: { family: crypto.randomUUID(), currentHash: H("t0"), currentIssuedAt: now, previousHash: null, previousUsedAt: null },
    ...overrides,
  };
}

const policy = (now = Date.now()) => ({ now, graceMs: 30_000, idleMs: HOUR });

t.test("create, get, list, count, delete", async (t) => {
  const { store } = open(t);
  const a = session();
  const b = session({ refresh: null });
  const bob = session({ userId: "@bob:example.org" });
  for (const s of [a, b, bob]) await store.createSession(s);
  t.same(await store.getSession(a.id), a);
  t.same(await store.getSession(b.id), b, "a session without refresh tokens");
  t.equal(await store.countSessions(), 3);
  t.same((await store.listUserSessions("@alice:example.org")).map((s) => s.id).sort(), [a.id, b.id].sort());
  t.same(await store.deleteSession(a.id), a);
  t.equal(await store.getSession(a.id), undefined);
  t.same(
    (await store.deleteUserSessions("@alice:example.org")).map((s) => s.id),
    [b.id],
  );
  t.same(await store.getSession(bob.id), bob, "another user's session stays");
});

t.test("the upstream token is sealed in Redis", async (t) => {
  const { store, prefix } = open(t);
  const s = session();
  await store.createSession(s);
  const raw = new Redis(REDIS_URL as string);
  t.teardown(() => raw.disconnect());
  const stored = await raw.hgetall(`${prefix}session:${s.id}`);
  t.not(stored.upstream, s.upstreamToken);
  t.notMatch(JSON.stringify(stored), s.upstreamToken);
  t.equal(cipher.open(stored.upstream as string), s.upstreamToken);
});

t.test("a new session's keys expire at its refresh token's idle limit when that comes first", async (t) => {
  const { store, prefix } = open(t);
  const raw = new Redis(REDIS_URL as string);
  t.teardown(() => raw.disconnect());
  const idleMs = 10 * 60_000;
  const refreshable = session();
  const plain = session({ refresh: null });
  const legacy = session();
  await store.createSession(refreshable, idleMs);
  await store.createSession(plain, idleMs);
  await store.createSession(legacy);
  const ttl = (key: string) => raw.pttl(`${prefix}${key}`);
  const near = (ms: number, target: number) => ms <= target && ms > target - 60_000;
  const idleTtl = await ttl(`session:${refreshable.id}`);
  t.ok(near(idleTtl, idleMs), `session key: ${idleTtl} ms, the 10-minute idle limit (not the 1-hour absolute one)`);
  const familyTtl = await ttl(`family:${refreshable.refresh!.family}`);
  t.ok(near(familyTtl, idleMs), `refresh family key: ${familyTtl} ms, the same limit`);
  const plainTtl = await ttl(`session:${plain.id}`);
  t.ok(near(plainTtl, HOUR), `no refresh token, no idle limit: ${plainTtl} ms`);
  const legacyTtl = await ttl(`session:${legacy.id}`);
  t.ok(near(legacyTtl, HOUR), `without idleMs, the absolute limit: ${legacyTtl} ms`);
});

t.test("sessionsAfter walks every session with SCAN, page by page", async (t) => {
  const { store } = open(t);
  const made = Array.from({ length: 7 }, () => session());
  for (const s of made) await store.createSession(s);
  const seen = new Map<string, SessionRecord>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.sessionsAfter(cursor, 2);
    for (const s of page.sessions) seen.set(s.id, s);
    cursor = page.cursor;
    pages++;
  } while (cursor !== undefined && pages < 100_000); // SCAN visits the whole database, which other tests share: a page may hold none of ours
  t.equal(cursor, undefined, "the walk ends");
  t.same(
    [...seen.values()].sort((a, b) => a.id.localeCompare(b.id)),
    made.sort((a, b) => a.id.localeCompare(b.id)),
    "each session, as stored",
  );
});

t.test("rotation: rotate, retry in grace, dead sibling, theft", async (t) => {
  const { store } = open(t);
  const s = session();
  await store.createSession(s);
  const family = s.refresh!.family;
  const now = Date.now();
  t.match(await store.rotateRefreshToken(family, H("t0"), H("t1"), policy(now)), {
    kind: "rotated",
    session: { refresh: { currentHash: H("t1"), previousHash: H("t0") } },
  });
  t.match(await store.rotateRefreshToken(family, H("t0"), H("t2"), policy(now + 1000)), {
    kind: "retried",
    session: { refresh: { currentHash: H("t2"), siblingHashes: [H("t1")] } },
  });
  t.same((await store.getSession(s.id))?.refresh?.siblingHashes, [H("t1")], "the first successor is stored as a sibling");
  t.match(await store.rotateRefreshToken(family, H("t2"), H("t3"), policy(now + 2000)), { kind: "rotated" });
  t.same((await store.getSession(s.id))?.refresh?.supersededHashes, [H("t1")], "t1 died");
  t.match(await store.rotateRefreshToken(family, H("t1"), H("t4"), policy(now + 3000)), { kind: "sibling", session: { id: s.id } });
  t.ok(await store.getSession(s.id), "a dead sibling revokes nothing");
  t.match(await store.rotateRefreshToken(family, H("t0"), H("t4"), policy(now + 3000)), { kind: "theft", session: { id: s.id } });
  t.equal(await store.getSession(s.id), undefined, "theft deleted the session");
  t.same(await store.rotateRefreshToken(family, H("t3"), H("t5"), policy(now + 4000)), { kind: "unknown" });
});

t.test("concurrent rotations of one token on two clients: one rotates, the other is a retry inside the grace", async (t) => {
  const { store, prefix } = open(t);
  const other = open(t, prefix).store;
  const s = session();
  await store.createSession(s);
  const now = Date.now();
  const results = await Promise.all([
    store.rotateRefreshToken(s.refresh!.family, H("t0"), H("a"), policy(now)),
    other.rotateRefreshToken(s.refresh!.family, H("t0"), H("b"), policy(now)),
  ]);
  t.same(results.map((r) => r.kind).sort(), ["retried", "rotated"]);

  // Many at once (tabs): every one gets a pair (each conflicting round lets one through), none is theft.
  const many = session();
  await store.createSession(many);
  const crowd = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? store : other).rotateRefreshToken(many.refresh!.family, H("t0"), H(`c${i}`), policy(now)),
    ),
  );
  t.same(crowd.map((r) => r.kind).sort(), ["rotated", ...Array(39).fill("retried")].sort(), "one rotation, 39 retries");
  t.equal((await store.getSession(many.id))?.refresh?.siblingHashes?.length, 39, "every child kept");
  const strict = { now, graceMs: 0, idleMs: HOUR };
  const s2 = session();
  await store.createSession(s2);
  const strictResults = await Promise.all([
    store.rotateRefreshToken(s2.refresh!.family, H("t0"), H("a"), strict),
    other.rotateRefreshToken(s2.refresh!.family, H("t0"), H("b"), strict),
  ]);
  t.same(strictResults.map((r) => r.kind).sort(), ["rotated", "theft"], "without grace the second is theft");
});

t.test("revocation feed: another instance sees what was revoked", async (t) => {
  const { store, prefix } = open(t);
  const watcher = open(t, prefix).store;
  const start = await watcher.revokedSince(undefined);
  const s = session();
  await store.createSession(s);
  await store.deleteSession(s.id);
  const feed = await watcher.revokedSince(start.cursor);
  t.same(feed.sessionIds, [s.id]);
  t.same((await watcher.revokedSince(feed.cursor)).sessionIds, [], "read once");
});

t.test("a dead Redis fails fast", async (t) => {
  const store = createRedisStore({ url: "redis://127.0.0.1:1", keyPrefix: "x:", commandTimeoutMs: 200 }, cipher);
  t.teardown(() => store.close());
  const started = Date.now();
  await t.rejects(store.getSession("x"));
  t.ok(Date.now() - started < 1500, "within the command timeout, not after retries");
});
