/**
 * Sessions on disk with better-sqlite3 (the default store): a restart logs nobody out.
 * WAL mode, so several processes may share the file; a rotation is one IMMEDIATE transaction.
 * Upstream credentials are sealed with AES-256-GCM; refresh tokens exist only as hashes.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { decideRotation, nextRefreshState } from "../auth/rotation.js";
import type { CredentialCipher } from "./credential-cipher.js";
import { watchFileIdentity } from "./file-identity.js";
import { createSqliteOAuthState, OAUTH_SCHEMA } from "./sqlite-oauth.js";
import type { RefreshState, RotationResult, SessionRecord, Store } from "./store.js";
import { startWalCheckpointer } from "./wal-checkpointer.js";

/**
 * 4 added the OAuth 2.0 API's state (the grant columns of a session, the clients and codes tables);
 * 3 the sibling columns (`auth/rotation.ts`) and the health table; 2 the revocations table.
 */
const SCHEMA_VERSION = 4;
/** SQLite's default: checkpoint inside the commit that grows the WAL past 1,000 pages. */
const SQLITE_AUTOCHECKPOINT = 1_000;
const BACKSTOP_AUTOCHECKPOINT = 10 * SQLITE_AUTOCHECKPOINT;
/** Revocation records are kept this long: far longer than any process caches a session. */
const REVOCATION_RETENTION_MS = 24 * 3_600_000;

const SCHEMA = `
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
  superseded_refresh_hashes TEXT,  -- space-separated; NULL when none
  oauth_client_id          TEXT,  -- sessions started through the OAuth 2.0 API; NULL for /login ones
  oauth_scope              TEXT
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

interface Row {
  id: string;
  user_id: string;
  device_id: string;
  upstream_token: string;
  created_at: number;
  expires_at: number;
  refresh_family: string | null;
  refresh_hash: string | null;
  refresh_issued_at: number | null;
  previous_refresh_hash: string | null;
  previous_refresh_used_at: number | null;
  refresh_sibling_hashes: string | null;
  superseded_refresh_hashes: string | null;
  oauth_client_id: string | null;
  oauth_scope: string | null;
}

/** Columns added after the first schema, with their types: a file written by an older gateway gets them on open. */
const ADDED_COLUMNS: [name: string, type: string][] = [
  ["refresh_sibling_hashes", "TEXT"],
  ["superseded_refresh_hashes", "TEXT"],
  ["oauth_client_id", "TEXT"],
  ["oauth_scope", "TEXT"],
];

export interface SqliteStoreOptions {
  /**
   * Told once, with the reason, when the file is deleted or replaced while open (`file-identity.ts`);
   * every write is refused from then on, reads of what the old file held keep working.
   */
  onLost?: (reason: string) => void;
  /** How often the file's identity is checked (tests). */
  fileCheckIntervalMs?: number;
}

export function createSqliteStore(file: string, cipher: CredentialCipher, options: SqliteStoreOptions = {}): Store {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  // Sealed credentials and token hashes are nobody else's business (the WAL files follow the directory's 0700).
  if (file !== ":memory:") fs.chmodSync(file, 0o600);
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode survives a process crash; only an OS crash may lose the last commits.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  // Checkpoints run in a thread of their own, not inside a commit on the event loop (wal-checkpointer.ts).
  // SQLite's own stays as a backstop at 10× its default: a long burst of writes, during which the thread's
  // passive checkpoints never catch up completely, cannot grow the WAL past ~40 MB.
  const checkpointer =
    file === ":memory:"
      ? undefined
      : startWalCheckpointer(file, () => db.open && db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`));
  if (checkpointer) db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT}`);
  const watch =
    file === ":memory:" ? undefined : watchFileIdentity(file, (reason) => options.onLost?.(reason), options.fileCheckIntervalMs);
  /** Sessions written into a deleted file would be lost at the next restart: refuse them (503) instead. */
  const writable = () => {
    if (watch?.lost !== undefined) throw new Error(`${watch.lost}: writes refused until the gateway is restarted`);
  };

  // Columns named: a migrated file has the added ones at the end, a new one too, but say so rather than rely on it.
  const insert = db.prepare(`INSERT INTO sessions (id, user_id, device_id, upstream_token, created_at, expires_at,
    refresh_family, refresh_hash, refresh_issued_at, previous_refresh_hash, previous_refresh_used_at,
    refresh_sibling_hashes, superseded_refresh_hashes, oauth_client_id, oauth_scope)
    VALUES (@id, @user_id, @device_id, @upstream_token, @created_at, @expires_at, @refresh_family, @refresh_hash,
    @refresh_issued_at, @previous_refresh_hash, @previous_refresh_used_at, @refresh_sibling_hashes, @superseded_refresh_hashes,
    @oauth_client_id, @oauth_scope)`);
  const byId = db.prepare<[string], Row>("SELECT * FROM sessions WHERE id = ?");
  const requestById = db.prepare<[string], Pick<Row, "id" | "user_id" | "device_id" | "upstream_token" | "expires_at">>(
    "SELECT id, user_id, device_id, upstream_token, expires_at FROM sessions WHERE id = ?",
  );
  const byFamily = db.prepare<[string], Row>("SELECT * FROM sessions WHERE refresh_family = ?");
  const count = db.prepare("SELECT COUNT(*) AS n FROM sessions");
  const byUser = db.prepare<[string], Row>("SELECT * FROM sessions WHERE user_id = ?");
  const page = db.prepare<[string, number], Row>("SELECT * FROM sessions WHERE id > ? ORDER BY id LIMIT ?");
  const deleteById = db.prepare<[string]>("DELETE FROM sessions WHERE id = ?");
  const recordRevocation = db.prepare<[string, number]>("INSERT INTO revocations (session_id, revoked_at) VALUES (?, ?)");
  const revocationsAfter = db.prepare<[number], { seq: number; session_id: string }>(
    "SELECT seq, session_id FROM revocations WHERE seq > ? ORDER BY seq LIMIT 10000",
  );
  const lastRevocation = db.prepare<[], { seq: number | null }>("SELECT MAX(seq) AS seq FROM revocations");
  const pruneRevocations = db.prepare<[number]>("DELETE FROM revocations WHERE revoked_at <= ?");
  const touchHealth = db.prepare<[number]>(
    "INSERT INTO health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
  );
  const revoke = (id: string) => {
    deleteById.run(id);
    recordRevocation.run(id, Date.now());
  };
  // Named parameters: better-sqlite3 refuses numbered ones (`?1`) used twice ("Too many parameter values").
  const deleteExpired = db.prepare<[{ now: number; idleMs: number }]>(
    "DELETE FROM sessions WHERE expires_at <= @now OR (refresh_issued_at IS NOT NULL AND refresh_issued_at <= @now - @idleMs)",
  );
  const updateRefresh = db.prepare(`UPDATE sessions SET refresh_hash = @currentHash, refresh_issued_at = @currentIssuedAt,
    previous_refresh_hash = @previousHash, previous_refresh_used_at = @previousUsedAt,
    refresh_sibling_hashes = @siblings, superseded_refresh_hashes = @superseded WHERE id = @id`);

  const toRecord = (row: Row): SessionRecord => ({
    id: row.id,
    userId: row.user_id,
    deviceId: row.device_id,
    upstreamToken: cipher.open(row.upstream_token),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    refresh: refreshOf(row),
    // Left out for /login sessions, as the other stores leave it.
    ...(row.oauth_client_id !== null && { oauth: { clientId: row.oauth_client_id, scope: row.oauth_scope ?? "" } }),
  });

  const rotate = db.transaction((family: string, presentedHash: string, nextHash: string, policy): RotationResult => {
    const row = byFamily.get(family);
    const state = row && refreshOf(row);
    if (!row || !state) return { kind: "unknown" };
    const decision = decideRotation(state, row.expires_at, presentedHash, policy);
    if (decision === "expired") return { kind: "expired" };
    if (decision === "theft") {
      revoke(row.id);
      return { kind: "theft", session: toRecord(row) };
    }
    if (decision === "sibling") return { kind: "sibling", session: toRecord(row) };
    const next = nextRefreshState(state, decision, presentedHash, nextHash, policy.now);
    updateRefresh.run({
      id: row.id,
      currentHash: next.currentHash,
      currentIssuedAt: next.currentIssuedAt,
      previousHash: next.previousHash,
      previousUsedAt: next.previousUsedAt,
      siblings: joinHashes(next.siblingHashes),
      superseded: joinHashes(next.supersededHashes),
    });
    return { kind: decision === "rotate" ? "rotated" : "retried", session: { ...toRecord(row), refresh: next } };
  });

  const oauthState = createSqliteOAuthState(db, cipher, writable);

  const removeUser = db.transaction((userId: string) => {
    const rows = byUser.all(userId);
    for (const row of rows) revoke(row.id);
    return rows.map(toRecord);
  });
  const removeOne = db.transaction((id: string) => {
    const row = byId.get(id);
    if (row) revoke(id);
    return row;
  });

  return {
    async createSession(s) {
      writable();
      insert.run({
        id: s.id,
        user_id: s.userId,
        device_id: s.deviceId,
        upstream_token: cipher.seal(s.upstreamToken),
        created_at: s.createdAt,
        expires_at: s.expiresAt,
        refresh_family: s.refresh?.family ?? null,
        refresh_hash: s.refresh?.currentHash ?? null,
        refresh_issued_at: s.refresh?.currentIssuedAt ?? null,
        previous_refresh_hash: s.refresh?.previousHash ?? null,
        previous_refresh_used_at: s.refresh?.previousUsedAt ?? null,
        refresh_sibling_hashes: joinHashes(s.refresh?.siblingHashes),
        superseded_refresh_hashes: joinHashes(s.refresh?.supersededHashes),
        oauth_client_id: s.oauth?.clientId ?? null,
        oauth_scope: s.oauth?.scope ?? null,
      });
    },
    async getSession(id) {
      const row = byId.get(id);
      return row && toRecord(row);
    },
    // Not async: better-sqlite3 reads synchronously, and a promise here cost every cache miss a turn.
    getRequestSession(id) {
      const row = requestById.get(id);
      if (!row) return undefined;
      return {
        id: row.id,
        userId: row.user_id,
        deviceId: row.device_id,
        upstreamToken: cipher.open(row.upstream_token),
        expiresAt: row.expires_at,
      };
    },
    async rotateRefreshToken(family, presentedHash, nextHash, policy) {
      writable();
      return rotate.immediate(family, presentedHash, nextHash, policy);
    },
    async deleteSession(id) {
      writable();
      const row = removeOne.immediate(id);
      return row && toRecord(row);
    },
    async deleteUserSessions(userId) {
      writable();
      return removeUser.immediate(userId);
    },
    async deleteExpired(now, idleMs) {
      writable();
      pruneRevocations.run(now - REVOCATION_RETENTION_MS);
      return deleteExpired.run({ now, idleMs }).changes;
    },
    async countSessions() {
      return (count.get() as { n: number }).n;
    },
    async listUserSessions(userId) {
      return byUser.all(userId).map(toRecord);
    },
    async sessionsAfter(cursor, limit) {
      const rows = page.all(cursor ?? "", limit);
      return { sessions: rows.map(toRecord), cursor: rows.length === limit ? (rows[rows.length - 1] as Row).id : undefined };
    },
    async revokedSince(cursor) {
      if (cursor === undefined) return { sessionIds: [], cursor: String(lastRevocation.get()?.seq ?? 0) };
      const rows = revocationsAfter.all(Number(cursor));
      return {
        sessionIds: rows.map((r) => r.session_id),
        cursor: rows.length ? String((rows[rows.length - 1] as { seq: number }).seq) : cursor,
      };
    },
    async probeWrite() {
      writable();
      touchHealth.run(Date.now());
    },
    async getSessionByFamily(family) {
      const row = byFamily.get(family);
      return row && toRecord(row);
    },
    ...oauthState,
    async close() {
      watch?.stop();
      await checkpointer?.stop();
      // The last connection to close checkpoints what is left and removes the WAL.
      if (db.open) db.close();
    },
  };
}

function refreshOf(row: Row): RefreshState | null {
  if (row.refresh_family === null || row.refresh_hash === null || row.refresh_issued_at === null) return null;
  const state: RefreshState = {
    family: row.refresh_family,
    currentHash: row.refresh_hash,
    currentIssuedAt: row.refresh_issued_at,
    previousHash: row.previous_refresh_hash,
    previousUsedAt: row.previous_refresh_used_at,
  };
  // Left out when empty, as `nextRefreshState` leaves them: a row written before schema 3 has NULL here.
  if (row.refresh_sibling_hashes) state.siblingHashes = row.refresh_sibling_hashes.split(" ");
  if (row.superseded_refresh_hashes) state.supersededHashes = row.superseded_refresh_hashes.split(" ");
  return state;
}

/** Hashes are base64url, so a space separates them safely; an empty list is NULL. */
function joinHashes(hashes: string[] | undefined): string | null {
  return hashes?.length ? hashes.join(" ") : null;
}

function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`the store was written by a newer gateway (schema ${version}, this one knows ${SCHEMA_VERSION})`);
  }
  // IMMEDIATE: workers opening one file together must not both add a column (the second would fail).
  db.transaction(() => {
    db.exec(SCHEMA);
    db.exec(OAUTH_SCHEMA);
    // A file from before schema 3 or 4 keeps its rows; the new columns start NULL (no siblings, no OAuth
    // grant), which is what its sessions are: sessions written by an older gateway keep refreshing.
    const present = new Set(
      db
        .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('sessions')")
        .all()
        .map((c) => c.name),
    );
    for (const [name, type] of ADDED_COLUMNS) if (!present.has(name)) db.exec(`ALTER TABLE sessions ADD COLUMN ${name} ${type}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
