/**
 * copySessions (admin `sessions copy`): every live session, page by page; those past their limits and those
 * already in the target are left; a second run copies nothing. The CLI end to end (a gateway on the new
 * store accepting the old tokens) is in test/operations/sessions-copy.test.ts.
 */
import crypto from "node:crypto";
import { Redis } from "ioredis";
import t from "tap";
import { copySessions } from "../../src/store/copy-sessions.js";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createMemoryStore } from "../../src/store/memory.js";
import { createRedisStore } from "../../src/store/redis.js";
import { createSqliteStore } from "../../src/store/sqlite.js";
import type { OAuthClient, SessionRecord, Store } from "../../src/store/store.js";

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 27);
const IDLE = 24 * HOUR;

function session(i: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: crypto.randomBytes(16).toString("hex"),
    userId: `@user${i}:example.org`,
    deviceId: `DEV${i}`,
    upstreamToken: `syt_upstream_${i}`,
    createdAt: NOW - HOUR,
    expiresAt: NOW + HOUR,
    refresh: {
      family: crypto.randomBytes(16).toString("hex"),
      currentHash: `h${i}`,
      currentIssuedAt: NOW - HOUR,
      previousHash: `p${i}`,
      previousUsedAt: NOW - HOUR,
    },
    ...overrides,
  };
}

async function all(store: Store): Promise<SessionRecord[]> {
  const found: SessionRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.sessionsAfter(cursor, 3);
    found.push(...page.sessions);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

for (const [name, open] of [
  ["memory", () => createMemoryStore()],
  ["sqlite", () => createSqliteStore(":memory:", createCredentialCipher(crypto.randomBytes(32)))],
] as const) {
  t.test(`${name} → ${name}: live sessions copied page by page, the rest left, a second run copies nothing`, async (t) => {
    const source = open();
    const target = open();
    t.teardown(() => Promise.all([source.close(), target.close()]));
    // Two started through the OAuth 2.0 API: their grant travels with them.
    const live = Array.from({ length: 7 }, (_, i) =>
      session(i, i < 2 ? { oauth: { clientId: `client-${i}`, scope: `urn:matrix:client:api:* urn:matrix:client:device:DEV${i}` } } : {}),
    );
    const plain = session(7, { refresh: null });
    const pastMaxAge = session(8, { expiresAt: NOW });
    const idle = session(9, {
      refresh: { family: "idle-family", currentHash: "h", currentIssuedAt: NOW - IDLE, previousHash: null, previousUsedAt: null },
    });
    const already = session(10);
    for (const s of [...live, plain, pastMaxAge, idle, already]) await source.createSession(s);
    const changedThere = { ...already, deviceId: "THERE" };
    await target.createSession(changedThere);
    const clients = ["c1", "c2", "c3"].map((id, i) => ({
      id,
      metadata: { client_name: id, redirect_uris: [`https://${id}.example/cb`] },
      createdAt: NOW + i,
    }));
    for (const client of clients) await source.saveClient(client);
    const clientThere = { ...(clients[1] as OAuthClient), metadata: { client_name: "there" } };
    await target.saveClient(clientThere);

    const first = await copySessions(source, target, { now: NOW, idleMs: IDLE, pageSize: 2 });
    t.same(first, { copied: 8, present: 1, expired: 2, clients: { copied: 2, present: 1 } });
    const expected = [...live, plain, changedThere].sort((a, b) => a.id.localeCompare(b.id));
    t.same(await all(target), expected, "the same records, refresh state, OAuth grant and homeserver token included; the one there kept");
    t.same(await target.getClient("c1"), clients[0], "the OAuth clients, as registered");
    t.same(await target.getClient("c2"), clientThere, "the one there kept");
    t.same(await target.getClient("c3"), clients[2]);

    t.same(
      await copySessions(source, target, { now: NOW, idleMs: IDLE }),
      { copied: 0, present: 9, expired: 2, clients: { copied: 0, present: 3 } },
      "again: nothing new",
    );
  });
}

t.test("a session a page repeats (Redis SCAN may) is copied and counted once", async (t) => {
  const target = createMemoryStore();
  t.teardown(() => target.close());
  const [a, b] = [session(1), session(2)];
  const pages = [
    { sessions: [a, b], cursor: "1" },
    { sessions: [b], cursor: undefined },
  ];
  const client = { id: "c1", metadata: {}, createdAt: NOW };
  const clientPages = [
    { clients: [client], cursor: "1" },
    { clients: [client], cursor: undefined },
  ];
  const source = {
    sessionsAfter: async (cursor: string | undefined) => pages[cursor === undefined ? 0 : 1],
    clientsAfter: async (cursor: string | undefined) => clientPages[cursor === undefined ? 0 : 1],
  } as unknown as Store;
  t.same(await copySessions(source, target, { now: NOW, idleMs: IDLE }), {
    copied: 2,
    present: 0,
    expired: 0,
    clients: { copied: 1, present: 0 },
  });
  t.same(
    await all(target),
    [a, b].sort((x, y) => x.id.localeCompare(y.id)),
  );
});

t.test("sessionsAfter on an empty store: one empty page", async (t) => {
  const store = createSqliteStore(":memory:", createCredentialCipher(crypto.randomBytes(32)));
  t.teardown(() => store.close());
  t.same(await store.sessionsAfter(undefined, 10), { sessions: [], cursor: undefined });
});

t.test(
  "sqlite → redis: the OAuth grants arrive, the homeserver token re-sealed with the target's key",
  { skip: !process.env.REDIS_URL && "REDIS_URL is not set" },
  async (t) => {
    const source = createSqliteStore(":memory:", createCredentialCipher(crypto.randomBytes(32)));
    const prefix = `test:${crypto.randomUUID()}:`;
    const target = createRedisStore(
      { url: process.env.REDIS_URL as string, keyPrefix: prefix, commandTimeoutMs: 2000 },
      createCredentialCipher(crypto.randomBytes(32)),
    );
    t.teardown(async () => {
      await Promise.all([source.close(), target.close()]);
      // Nothing left behind for the tests that walk the whole Redis with SCAN.
      const raw = new Redis(process.env.REDIS_URL as string);
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
      raw.disconnect();
    });
    // Redis expires keys by the real clock: sessions of today.
    const now = Date.now();
    const times = { createdAt: now - HOUR, expiresAt: now + HOUR };
    const refresh = (i: number) => ({
      family: `o.f${i}`,
      currentHash: `h${i}`,
      currentIssuedAt: now - HOUR,
      previousHash: null,
      previousUsedAt: null,
    });
    const granted = session(0, { ...times, refresh: refresh(0), oauth: { clientId: "client-0", scope: "urn:matrix:client:api:*" } });
    const plain = session(1, { ...times, refresh: refresh(1) });
    for (const s of [granted, plain]) await source.createSession(s);
    const client = { id: "client-0", metadata: { client_name: "Zero", redirect_uris: ["https://zero.example/cb"] }, createdAt: now };
    await source.saveClient(client);
    t.same(await copySessions(source, target, { now, idleMs: IDLE }), {
      copied: 2,
      present: 0,
      expired: 0,
      clients: { copied: 1, present: 0 },
    });
    t.same(await target.getClient(client.id), client, "its client too");
    t.same(await target.getSession(granted.id), granted);
    t.same(await target.getSession(plain.id), plain);
  },
);
