/**
 * Sessions at rest. The contract's "a restart logs nobody out" on the sqlite store, what the file
 * holds (hashes of refresh tokens, sealed upstream credentials, nothing in clear), the Store
 * contract run against every backend alike, and the credential cipher.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import t, { type Test } from "tap";
import { hashRefreshToken } from "../../src/auth/refresh-token.js";
import type { RotationPolicy } from "../../src/auth/rotation.js";
import { ManualClock } from "../../src/clock.js";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createMemoryStore } from "../../src/store/memory.js";
import { createSqliteStore } from "../../src/store/sqlite.js";
import type { RefreshState, SessionRecord, Store } from "../../src/store/store.js";
import { startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { SERVER_NAME, startGateway } from "../helpers/gateway.js";
import { refresh, upstreamTokenOf, whoami } from "../helpers/session-api.js";

/** A temp directory removed when `t` ends. */
function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-store-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every text value in every table of the database, with where it was found. */
function textValues(db: Database.Database): { at: string; value: string }[] {
  const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all();
  const values: { at: string; value: string }[] = [];
  for (const { name } of tables) {
    for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]) {
      for (const [column, value] of Object.entries(row)) if (typeof value === "string") values.push({ at: `${name}.${column}`, value });
    }
  }
  return values;
}

const sha256Base64url = (text: string) => crypto.createHash("sha256").update(text).digest("base64url");

t.test("sqlite: a restart logs nobody out, and the file holds no secret in clear", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, "gw.sqlite");
  const storeYaml = `store: {type: sqlite, path: "${file}"}`;
  const homeserver = await startFakeHomeserver(SERVER_NAME);
  homeserver.addUser("alice", "wonderland");
  t.teardown(() => homeserver.close());
  const clock = new ManualClock(Date.now());

  const before = await startGateway(t, { storeYaml, homeserver, clock });
  const login = await before.login();
  const upstreamToken = upstreamTokenOf(homeserver, login.device_id);
  await before.gateway.close();

  const after = await startGateway(t, { storeYaml, homeserver, clock });
  const me = await whoami(after, login.access_token);
  t.equal(me.status, 200, "the old access token works after the restart");
  t.same(me.body, { user_id: "@alice:example.org", device_id: login.device_id });
  const next = await refresh(after, login.refresh_token);
  t.equal(next.status, 200, "the old refresh token refreshes after the restart");
  t.equal((await whoami(after, next.body.access_token)).status, 200);
  const sealKey = after.config.store.encryption_key;
  await after.gateway.close();

  const secrets: Record<string, string> = {
    "used refresh token": login.refresh_token,
    "current refresh token": next.body.refresh_token,
    "upstream token": upstreamToken,
    "access token": login.access_token,
    password: "wonderland",
  };
  const db = new Database(file, { readonly: true });
  try {
    const values = textValues(db);
    t.ok(values.length > 0, "the file has text to search");
    for (const [what, secret] of Object.entries(secrets)) {
      t.same(
        values.filter((v) => v.value.includes(secret)).map((v) => v.at),
        [],
        `no column holds the ${what}`,
      );
    }
    const rows = db.prepare("SELECT * FROM sessions").all() as Record<string, unknown>[];
    t.equal(rows.length, 1, "one session");
    const row = rows[0] ?? {};
    t.equal(row.refresh_hash, sha256Base64url(next.body.refresh_token), "refresh_hash = base64url(SHA-256(current refresh token))");
    t.equal(row.previous_refresh_hash, sha256Base64url(login.refresh_token), "previous_refresh_hash = the used one's");
    t.equal(createCredentialCipher(sealKey).open(row.upstream_token as string), upstreamToken, "the upstream token is sealed, not lost");
  } finally {
    db.close();
  }
  // Nothing in clear in the raw bytes either (WAL and journal files included, if any are left).
  for (const name of fs.readdirSync(dir)) {
    const bytes = fs.readFileSync(path.join(dir, name));
    for (const [what, secret] of Object.entries(secrets)) t.notOk(bytes.includes(secret), `${name} has no ${what} in its bytes`);
  }
});

// ---------------------------------------------------------------------------------------------
// The Store contract, against every backend.

const T0 = Date.UTC(2026, 0, 1);
const GRACE_MS = 30_000;
const IDLE_MS = 60 * 60_000;
const MAX_AGE_MS = 24 * IDLE_MS;
const H = (token: string) => hashRefreshToken(token);
const policyAt = (after: number): RotationPolicy => ({ now: T0 + after, graceMs: GRACE_MS, idleMs: IDLE_MS });

let sequence = 0;
/** A fresh refreshable session of alice whose current refresh token is `${id}:t0`. */
function makeSession(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const id = `session-${++sequence}`;
  return {
    id,
    userId: "@alice:example.org",
    deviceId: `DEVICE${sequence}`,
    upstreamToken: `syt_upstream_${sequence}`,
    createdAt: T0,
    expiresAt: T0 + MAX_AGE_MS,
    refresh: { family: `family-${sequence}`, currentHash: H("t0"), currentIssuedAt: T0, previousHash: null, previousUsedAt: null },
    ...overrides,
  };
}

const cipher = createCredentialCipher(crypto.randomBytes(32));
const BACKENDS: { name: string; create: (t: Test) => Store }[] = [
  { name: "memory", create: () => createMemoryStore() },
  { name: "sqlite :memory:", create: () => createSqliteStore(":memory:", cipher) },
  { name: "sqlite file", create: (t) => createSqliteStore(path.join(tempDir(t), "store.sqlite"), cipher) },
];

interface RotationStep {
  present: string;
  next: string;
  after: number;
  kind: "rotated" | "retried" | "sibling" | "theft" | "expired" | "unknown";
}
interface RotationRow {
  name: string;
  session?: Partial<SessionRecord>;
  steps: RotationStep[];
  /** The refresh state left in the store; `null` when the session must be gone. */
  left: Omit<RefreshState, "family"> | null;
}

const ROTATIONS: RotationRow[] = [
  {
    name: "current token → rotated",
    steps: [{ present: "t0", next: "t1", after: 1000, kind: "rotated" }],
    left: { currentHash: H("t1"), currentIssuedAt: T0 + 1000, previousHash: H("t0"), previousUsedAt: T0 + 1000 },
  },
  {
    name: "used token inside the grace, successor unused → retried (the successor stays usable beside it)",
    steps: [
      { present: "t0", next: "t1", after: 1000, kind: "rotated" },
      { present: "t0", next: "t2", after: 1000 + GRACE_MS - 1, kind: "retried" },
    ],
    left: {
      currentHash: H("t2"),
      currentIssuedAt: T0 + 1000 + GRACE_MS - 1,
      siblingHashes: [H("t1")],
      previousHash: H("t0"),
      previousUsedAt: T0 + 1000,
    },
  },
  {
    name: "used token after the grace → theft deletes the session",
    steps: [
      { present: "t0", next: "t1", after: 1000, kind: "rotated" },
      { present: "t0", next: "t2", after: 1000 + GRACE_MS, kind: "theft" },
      { present: "t1", next: "t3", after: 1000 + GRACE_MS, kind: "unknown" },
    ],
    left: null,
  },
  {
    name: "used token after its successor was used → theft",
    steps: [
      { present: "t0", next: "t1", after: 1000, kind: "rotated" },
      { present: "t1", next: "t2", after: 2000, kind: "rotated" },
      { present: "t0", next: "t3", after: 3000, kind: "theft" },
    ],
    left: null,
  },
  {
    name: "two tabs at once: either child carries on, the other then dies quietly and the session stays",
    steps: [
      { present: "t0", next: "t1", after: 1000, kind: "rotated" },
      { present: "t0", next: "t2", after: 1001, kind: "retried" },
      { present: "t1", next: "t3", after: 2000, kind: "rotated" },
      { present: "t2", next: "t4", after: 3000, kind: "sibling" },
      { present: "t2", next: "t5", after: 3000 + GRACE_MS, kind: "sibling" },
    ],
    left: {
      currentHash: H("t3"),
      currentIssuedAt: T0 + 2000,
      previousHash: H("t1"),
      previousUsedAt: T0 + 2000,
      supersededHashes: [H("t2")],
    },
  },
  {
    name: "two tabs at once, unused: both children kept, idle limit from the newest",
    steps: [
      { present: "t0", next: "t1", after: 1000, kind: "rotated" },
      { present: "t0", next: "t2", after: 1001, kind: "retried" },
    ],
    left: { currentHash: H("t2"), currentIssuedAt: T0 + 1001, siblingHashes: [H("t1")], previousHash: H("t0"), previousUsedAt: T0 + 1000 },
  },
  {
    name: "the original token after one of its children was used → theft",
    steps: [
      { present: "t0", next: "t1", after: 1000, kind: "rotated" },
      { present: "t0", next: "t2", after: 1001, kind: "retried" },
      { present: "t2", next: "t3", after: 2000, kind: "rotated" },
      { present: "t0", next: "t4", after: 2001, kind: "theft" },
    ],
    left: null,
  },
  {
    name: "a token the family never issued → theft",
    steps: [{ present: "forged", next: "t1", after: 1000, kind: "theft" }],
    left: null,
  },
  {
    name: "unused for refresh_ttl → expired, session kept",
    steps: [{ present: "t0", next: "t1", after: IDLE_MS, kind: "expired" }],
    left: { currentHash: H("t0"), currentIssuedAt: T0, previousHash: null, previousUsedAt: null },
  },
  {
    name: "past the session's end → expired",
    session: { expiresAt: T0 + 5000 },
    steps: [{ present: "t0", next: "t1", after: 5000, kind: "expired" }],
    left: { currentHash: H("t0"), currentIssuedAt: T0, previousHash: null, previousUsedAt: null },
  },
];

for (const backend of BACKENDS) {
  t.test(`Store contract: ${backend.name}`, async (t) => {
    const open = (t: Test) => {
      const store = backend.create(t);
      t.teardown(() => store.close());
      return store;
    };

    t.test("create and get", async (t) => {
      const store = open(t);
      const refreshable = makeSession();
      const plain = makeSession({ refresh: null, userId: "@bob:example.org" });
      await store.createSession(refreshable);
      await store.createSession(plain);
      t.same(await store.getSession(refreshable.id), refreshable);
      t.same(await store.getSession(plain.id), plain, "a session without refresh tokens");
      t.equal(await store.getSession("no-such-session"), undefined);

      const copy = (await store.getSession(refreshable.id)) as SessionRecord;
      copy.userId = "@mallory:example.org";
      t.same(await store.getSession(refreshable.id), refreshable, "what get returns is a copy");
    });

    t.test("getRequestSession: exactly what a request needs, the credential unsealed", async (t) => {
      const store = open(t);
      const session = makeSession();
      await store.createSession(session);
      const { id, userId, deviceId, upstreamToken, expiresAt } = session;
      t.strictSame({ ...(await store.getRequestSession(id)) }, { id, userId, deviceId, upstreamToken, expiresAt });
      t.equal(await store.getRequestSession("no-such-session"), undefined);
    });

    t.test("delete one session", async (t) => {
      const store = open(t);
      const session = makeSession();
      const other = makeSession();
      await store.createSession(session);
      await store.createSession(other);
      t.same(await store.deleteSession(session.id), session, "returns what it deleted");
      t.equal(await store.getSession(session.id), undefined);
      t.equal(await store.deleteSession(session.id), undefined, "deleting twice finds nothing");
      t.same(
        await store.rotateRefreshToken(session.refresh!.family, H("t0"), H("t1"), policyAt(1000)),
        { kind: "unknown" },
        "its family is gone",
      );
      t.same(await store.getSession(other.id), other, "the other session stays");
    });

    t.test("delete every session of a user", async (t) => {
      const store = open(t);
      const alice = [makeSession(), makeSession({ refresh: null })];
      const bob = makeSession({ userId: "@bob:example.org" });
      for (const session of [...alice, bob]) await store.createSession(session);
      const removed = await store.deleteUserSessions("@alice:example.org");
      t.same(
        removed.sort((a, b) => a.id.localeCompare(b.id)),
        alice.sort((a, b) => a.id.localeCompare(b.id)),
      );
      for (const session of alice) t.equal(await store.getSession(session.id), undefined);
      t.same(await store.getSession(bob.id), bob);
      t.same(await store.deleteUserSessions("@nobody:example.org"), []);
    });

    t.test("count and list", async (t) => {
      const store = open(t);
      const alice = [makeSession(), makeSession({ refresh: null })];
      await store.createSession(makeSession({ userId: "@bob:example.org" }));
      for (const session of alice) await store.createSession(session);
      t.equal(await store.countSessions(), 3);
      t.same(
        (await store.listUserSessions("@alice:example.org")).sort((a, b) => a.id.localeCompare(b.id)),
        alice.sort((a, b) => a.id.localeCompare(b.id)),
      );
      t.same(await store.listUserSessions("@nobody:example.org"), []);
    });

    t.test("delete expired sessions", async (t) => {
      const now = T0 + 2 * IDLE_MS;
      const store = open(t);
      const issued = (at: number) => ({ refresh: { ...makeSession().refresh!, currentIssuedAt: at } });
      const gone = [
        makeSession({ expiresAt: now, ...issued(now) }), // at its absolute end
        makeSession(issued(now - IDLE_MS)), // idle for refresh_ttl
      ];
      const kept = [
        makeSession(issued(now - IDLE_MS + 1)),
        makeSession({ expiresAt: now + 1, ...issued(now) }),
        makeSession({ refresh: null, createdAt: T0 - MAX_AGE_MS }), // not refreshable: only its end counts
      ];
      for (const session of [...gone, ...kept]) await store.createSession(session);
      t.equal(await store.deleteExpired(now, IDLE_MS), gone.length);
      for (const session of gone) t.equal(await store.getSession(session.id), undefined);
      for (const session of kept) t.same(await store.getSession(session.id), session);
    });

    t.test("rotateRefreshToken", async (t) => {
      for (const row of ROTATIONS) {
        t.test(row.name, async (t) => {
          const store = open(t);
          const session = makeSession(row.session);
          const family = session.refresh!.family;
          await store.createSession(session);
          for (const step of row.steps) {
            const result = await store.rotateRefreshToken(family, H(step.present), H(step.next), policyAt(step.after));
            t.equal(result.kind, step.kind, `${step.present} at +${step.after}ms → ${step.kind}`);
            if (result.kind === "rotated" || result.kind === "retried" || result.kind === "sibling") {
              t.same(result.session, await store.getSession(session.id), "returns the session as stored");
            }
            if (result.kind === "theft") {
              t.match(
                result.session,
                { id: session.id, userId: session.userId, upstreamToken: session.upstreamToken },
                "returns the revoked session",
              );
            }
          }
          const stored = await store.getSession(session.id);
          if (row.left === null) t.equal(stored, undefined, "the session is gone");
          else t.same(stored, { ...session, refresh: { family, ...row.left } });
        });
      }
      t.test("a family nobody issued → unknown", async (t) => {
        const store = open(t);
        t.same(await store.rotateRefreshToken("no-such-family", H("t0"), H("t1"), policyAt(0)), { kind: "unknown" });
      });
    });
  });
}

t.test("sqlite file store: sessions survive reopening, the upstream token is sealed", async (t) => {
  const file = path.join(tempDir(t), "reopen.sqlite");
  const session = makeSession();
  const first = createSqliteStore(file, cipher);
  await first.createSession(session);
  await first.close();

  const second = createSqliteStore(file, cipher);
  t.teardown(() => second.close());
  t.same(await second.getSession(session.id), session);
  const db = new Database(file, { readonly: true });
  const row = db.prepare("SELECT upstream_token FROM sessions WHERE id = ?").get(session.id) as { upstream_token: string };
  db.close();
  t.not(row.upstream_token, session.upstreamToken);
  t.notOk(row.upstream_token.includes(session.upstreamToken));
  const wrongKey = createSqliteStore(file, createCredentialCipher(crypto.randomBytes(32)));
  t.teardown(() => wrongKey.close());
  await t.rejects(wrongKey.getSession(session.id), "another key cannot open the upstream token");
});

t.test("credential cipher", async (t) => {
  const key = crypto.randomBytes(32);
  const sealer = createCredentialCipher(key);
  for (const plaintext of ["syt_YWxpY2U_abcdefghij_0123", "", "ünïcødé ✓", "x".repeat(10_000)]) {
    t.equal(sealer.open(sealer.seal(plaintext)), plaintext, `round trip of ${plaintext.length} characters`);
  }
  const sealed = sealer.seal("syt_secret");
  t.notOk(sealed.includes("syt_secret"), "the sealed form does not show the value");
  t.not(sealer.seal("syt_secret"), sealed, "two seals of one value differ (random nonce)");

  const bytes = Buffer.from(sealed, "base64url");
  const flipped = (index: number) => {
    const copy = Buffer.from(bytes);
    copy[index] = (copy[index] as number) ^ 0x01;
    return copy.toString("base64url");
  };
  t.throws(() => sealer.open(flipped(0)), "tampered nonce");
  t.throws(() => sealer.open(flipped(12)), "tampered ciphertext");
  t.throws(() => sealer.open(flipped(bytes.length - 1)), "tampered tag");
  t.throws(() => sealer.open(sealed.slice(0, -4)), "truncated");
  t.throws(() => createCredentialCipher(crypto.randomBytes(32)).open(sealed), "another key");
});
