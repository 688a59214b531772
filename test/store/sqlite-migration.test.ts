/**
 * A session file written by an older gateway (schema 2, before refresh-token siblings; schema 3, before the
 * OAuth 2.0 API) opens with this one, gains the new columns and tables, and its sessions keep working: an
 * upgrade logs nobody out.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import t from "tap";
import { hashRefreshToken } from "../../src/auth/refresh-token.js";
import { createCredentialCipher } from "../../src/store/credential-cipher.js";
import { createSqliteStore } from "../../src/store/sqlite.js";

/** The schema-2 DDL exactly as the gateway wrote it before schema 3. */
const SCHEMA_2 = `
CREATE TABLE IF NOT EXISTS sessions (
  id                       TEXT PRIMARY KEY,
  user_id                  TEXT NOT NULL,
  device_id                TEXT NOT NULL,
  upstream_token           TEXT NOT NULL,
  created_at               INTEGER NOT NULL,
  expires_at               INTEGER NOT NULL,
  refresh_family           TEXT UNIQUE,
  refresh_hash             TEXT,
  refresh_issued_at        INTEGER,
  previous_refresh_hash    TEXT,
  previous_refresh_used_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS revocations (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  revoked_at INTEGER NOT NULL
) STRICT;
`;

/** The schema-3 DDL exactly as the gateway wrote it before schema 4 (the OAuth 2.0 API). */
const SCHEMA_3 = `
CREATE TABLE IF NOT EXISTS sessions (
  id                       TEXT PRIMARY KEY,
  user_id                  TEXT NOT NULL,
  device_id                TEXT NOT NULL,
  upstream_token           TEXT NOT NULL,  -- AES-256-GCM sealed
  created_at               INTEGER NOT NULL,
  expires_at               INTEGER NOT NULL,
  refresh_family           TEXT UNIQUE,
  refresh_hash             TEXT,
  refresh_issued_at        INTEGER,
  previous_refresh_hash    TEXT,
  previous_refresh_used_at INTEGER,
  refresh_sibling_hashes   TEXT,  -- space-separated; NULL when none
  superseded_refresh_hashes TEXT  -- space-separated; NULL when none
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
-- Sessions ended on purpose, for other processes sharing this file to drop their cached copies.
CREATE TABLE IF NOT EXISTS revocations (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  revoked_at INTEGER NOT NULL
) STRICT;
-- One row, rewritten by the readiness probe: a write that fails tells /ready the file takes none.
CREATE TABLE IF NOT EXISTS health (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
) STRICT;
`;
/** The schema this gateway writes. */
const CURRENT_VERSION = 4;

const T0 = Date.UTC(2026, 0, 1);
const H = (token: string) => hashRefreshToken(token);
const policyAt = (after: number) => ({ now: T0 + after, graceMs: 30_000, idleMs: 3_600_000 });

t.test("a schema-2 file opens, migrates to the current schema and its sessions refresh", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-migration-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "v2.sqlite");
  const cipher = createCredentialCipher(crypto.randomBytes(32));

  const old = new Database(file);
  old.exec(SCHEMA_2);
  old.pragma("user_version = 2");
  // A chain refreshed once under the old gateway: t1 current, t0 used.
  old
    .prepare("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .run("s1", "@alice:example.org", "DEV1", cipher.seal("syt_upstream"), T0, T0 + 86_400_000, "fam1", H("t1"), T0, H("t0"), T0);
  old.close();

  const store = createSqliteStore(file, cipher);
  t.teardown(() => store.close());
  t.same(await store.getSession("s1"), {
    id: "s1",
    userId: "@alice:example.org",
    deviceId: "DEV1",
    upstreamToken: "syt_upstream",
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
    refresh: { family: "fam1", currentHash: H("t1"), currentIssuedAt: T0, previousHash: H("t0"), previousUsedAt: T0 },
  });
  t.equal((await store.rotateRefreshToken("fam1", H("t0"), H("t2"), policyAt(1000))).kind, "retried", "the grace of an old row holds");
  t.equal((await store.rotateRefreshToken("fam1", H("t1"), H("t3"), policyAt(2000))).kind, "rotated", "its old successor carries on");
  t.equal((await store.rotateRefreshToken("fam1", H("t2"), H("t4"), policyAt(3000))).kind, "sibling", "the retry's token died quietly");
  t.equal((await store.rotateRefreshToken("fam1", H("t3"), H("t5"), policyAt(4000))).kind, "rotated");
  await store.createSession({
    id: "s2",
    userId: "@bob:example.org",
    deviceId: "DEV2",
    upstreamToken: "syt_bob",
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
    refresh: { family: "fam2", currentHash: H("b0"), currentIssuedAt: T0, previousHash: null, previousUsedAt: null },
  });
  t.equal((await store.rotateRefreshToken("fam2", H("b0"), H("b1"), policyAt(1000))).kind, "rotated", "a new session in the old file");

  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma("user_version", { simple: true }), CURRENT_VERSION, "the current schema version");
  const columns = db
    .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('sessions')")
    .all()
    .map((c) => c.name);
  t.ok(columns.includes("refresh_sibling_hashes") && columns.includes("superseded_refresh_hashes"), "the new columns were added");

  // Opening the migrated file again changes nothing (the columns are there already).
  const again = createSqliteStore(file, cipher);
  t.teardown(() => again.close());
  t.equal((await again.getSession("s1"))?.refresh?.currentHash, H("t5"));
});

t.test("a schema-3 file opens, migrates to 4 (the OAuth 2.0 API's state) and its sessions refresh", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-migration-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "v3.sqlite");
  const cipher = createCredentialCipher(crypto.randomBytes(32));

  const old = new Database(file);
  old.exec(SCHEMA_3);
  old.pragma("user_version = 3");
  // A chain refreshed twice under the old gateway, the second time a retry: t2 current, t1 its sibling.
  old
    .prepare("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .run(
      "s1",
      "@alice:example.org",
      "DEV1",
      cipher.seal("syt_upstream"),
      T0,
      T0 + 86_400_000,
      "fam1",
      H("t2"),
      T0,
      H("t0"),
      T0,
      H("t1"),
      null,
    );
  old.close();

  const store = createSqliteStore(file, cipher);
  t.teardown(() => store.close());
  const before = await store.getSession("s1");
  t.same(before, {
    id: "s1",
    userId: "@alice:example.org",
    deviceId: "DEV1",
    upstreamToken: "syt_upstream",
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
    refresh: {
      family: "fam1",
      currentHash: H("t2"),
      currentIssuedAt: T0,
      previousHash: H("t0"),
      previousUsedAt: T0,
      siblingHashes: [H("t1")],
    },
  });
  t.notOk(before && "oauth" in before, "an old session has no OAuth grant");
  t.same(await store.getSessionByFamily("fam1"), before, "found by its family");
  t.equal((await store.rotateRefreshToken("fam1", H("t1"), H("t3"), policyAt(1000))).kind, "rotated", "its sibling carries on");
  t.equal((await store.rotateRefreshToken("fam1", H("t3"), H("t4"), policyAt(2000))).kind, "rotated");

  const grant = { clientId: "client-a", scope: "urn:matrix:client:api:* urn:matrix:client:device:DEV2" };
  await store.createSession({
    id: "s2",
    userId: "@bob:example.org",
    deviceId: "DEV2",
    upstreamToken: "syt_bob",
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
    refresh: { family: "o.fam2", currentHash: H("b0"), currentIssuedAt: T0, previousHash: null, previousUsedAt: null },
    oauth: grant,
  });
  t.match(await store.rotateRefreshToken("o.fam2", H("b0"), H("b1"), policyAt(1000)), { kind: "rotated", session: { oauth: grant } });
  await store.saveClient({ id: "client-a", metadata: { client_name: "A" }, createdAt: T0 });
  await store.saveCode({
    hash: H("code"),
    clientId: "client-a",
    redirectUri: "https://a.example.org/cb",
    scope: grant.scope,
    codeChallenge: H("verifier"),
    nonce: undefined,
    userId: "@bob:example.org",
    deviceId: "DEV3",
    upstreamToken: "syt_code",
    sessionId: "s3",
    createdAt: T0,
    expiresAt: T0 + 300_000,
  });

  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma("user_version", { simple: true }), 4, "schema version 4");
  const columns = db
    .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('sessions')")
    .all()
    .map((c) => c.name);
  t.ok(columns.includes("oauth_client_id") && columns.includes("oauth_scope"), "the grant columns were added");
  const tables = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name")
    .all()
    .map((r) => r.name);
  t.ok(
    ["oauth_clients", "oauth_codes", "oauth_codes_by_expiry"].every((name) => tables.includes(name)),
    "the OAuth tables were made",
  );

  // Opening the migrated file again changes nothing, and keeps what the OAuth 2.0 API stored.
  const again = createSqliteStore(file, cipher);
  t.teardown(() => again.close());
  t.equal((await again.getSession("s1"))?.refresh?.currentHash, H("t4"));
  t.same((await again.getSession("s2"))?.oauth, grant);
  t.same(await again.getClient("client-a"), { id: "client-a", metadata: { client_name: "A" }, createdAt: T0 });
  t.match(await again.takeCode(H("code"), T0), { firstUse: true, code: { upstreamToken: "syt_code", sessionId: "s3" } });
});
