/**
 * The OAuth 2.0 API's state in the SQLite store (`sqlite.ts` opens the file and migrates it): registered
 * clients, kept for good, and authorization codes until they expire. A code's homeserver credential is
 * sealed like a session's; the code itself is stored only as its hash.
 */
import type Database from "better-sqlite3";
import type { CredentialCipher } from "./credential-cipher.js";
import type { AuthorizationCode, OAuthClient, Store } from "./store.js";

/** Created by `sqlite.ts`'s migration (schema 4), in the same transaction as the sessions table. */
export const OAUTH_SCHEMA = `
-- OAuth 2.0 clients registered dynamically (RFC 7591): kept for good.
CREATE TABLE IF NOT EXISTS oauth_clients (
  id         TEXT PRIMARY KEY,
  metadata   TEXT NOT NULL,  -- JSON, as registered
  created_at INTEGER NOT NULL
) STRICT;
-- Authorization codes waiting for the token endpoint, by the SHA-256 of the code; removed once expired.
CREATE TABLE IF NOT EXISTS oauth_codes (
  hash           TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  scope          TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  nonce          TEXT,
  user_id        TEXT NOT NULL,
  device_id      TEXT NOT NULL,
  upstream_token TEXT NOT NULL,  -- AES-256-GCM sealed
  session_id     TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER  -- NULL until the first exchange
) STRICT;
CREATE INDEX IF NOT EXISTS oauth_codes_by_expiry ON oauth_codes (expires_at);
`;

interface ClientRow {
  id: string;
  metadata: string;
  created_at: number;
}

interface CodeRow {
  hash: string;
  client_id: string;
  redirect_uri: string;
  scope: string;
  code_challenge: string;
  nonce: string | null;
  user_id: string;
  device_id: string;
  upstream_token: string;
  session_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** The statements of the OAuth 2.0 API's tables. */
function oauthStatements(db: Database.Database) {
  return {
    // Registering identical metadata again may answer the same client id: the row is then rewritten.
    saveClient: db.prepare<[{ id: string; metadata: string; created_at: number }]>(
      `INSERT INTO oauth_clients (id, metadata, created_at) VALUES (@id, @metadata, @created_at)
       ON CONFLICT (id) DO UPDATE SET metadata = excluded.metadata, created_at = excluded.created_at`,
    ),
    clientById: db.prepare<[string], ClientRow>("SELECT id, metadata, created_at FROM oauth_clients WHERE id = ?"),
    insertCode: db.prepare<[Omit<CodeRow, "used_at">]>(`INSERT INTO oauth_codes (hash, client_id, redirect_uri, scope,
      code_challenge, nonce, user_id, device_id, upstream_token, session_id, created_at, expires_at)
      VALUES (@hash, @client_id, @redirect_uri, @scope, @code_challenge, @nonce, @user_id, @device_id, @upstream_token,
      @session_id, @created_at, @expires_at)`),
    clientPage: db.prepare<[string, number], ClientRow>(
      "SELECT id, metadata, created_at FROM oauth_clients WHERE id > ? ORDER BY id LIMIT ?",
    ),
    codeByHash: db.prepare<[string], CodeRow>("SELECT * FROM oauth_codes WHERE hash = ?"),
    markCodeUsed: db.prepare<[number, string]>("UPDATE oauth_codes SET used_at = ? WHERE hash = ?"),
    deleteExpiredCodes: db.prepare<[number], CodeRow>("DELETE FROM oauth_codes WHERE expires_at <= ? RETURNING *"),
  };
}

type OAuthState = Pick<Store, "saveClient" | "getClient" | "clientsAfter" | "saveCode" | "takeCode" | "takeExpiredCodes">;

const clientOf = (row: ClientRow): OAuthClient => ({
  id: row.id,
  metadata: JSON.parse(row.metadata) as Record<string, unknown>,
  createdAt: row.created_at,
});

/** `writable` throws when the file was lost (`sqlite.ts`): writes are refused then, reads carry on. */
export function createSqliteOAuthState(db: Database.Database, cipher: CredentialCipher, writable: () => void): OAuthState {
  const oauth = oauthStatements(db);
  const codeOf = (row: CodeRow): AuthorizationCode => ({
    hash: row.hash,
    clientId: row.client_id,
    redirectUri: row.redirect_uri,
    scope: row.scope,
    codeChallenge: row.code_challenge,
    nonce: row.nonce ?? undefined,
    userId: row.user_id,
    deviceId: row.device_id,
    upstreamToken: cipher.open(row.upstream_token),
    sessionId: row.session_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  });
  /** The row as it was before this use (`used_at` NULL on the first), or `undefined` when unknown or expired. */
  const useCode = db.transaction((hash: string, now: number): CodeRow | undefined => {
    const row = oauth.codeByHash.get(hash);
    if (!row || row.expires_at <= now) return undefined;
    if (row.used_at === null) oauth.markCodeUsed.run(now, hash);
    return row;
  });

  return {
    async saveClient(client) {
      writable();
      oauth.saveClient.run({ id: client.id, metadata: JSON.stringify(client.metadata), created_at: client.createdAt });
    },
    async getClient(id) {
      const row = oauth.clientById.get(id);
      return row && clientOf(row);
    },
    async clientsAfter(cursor, limit) {
      const rows = oauth.clientPage.all(cursor ?? "", limit);
      return { clients: rows.map(clientOf), cursor: rows.length === limit ? (rows[rows.length - 1] as ClientRow).id : undefined };
    },
    async saveCode(code) {
      writable();
      oauth.insertCode.run({
        hash: code.hash,
        client_id: code.clientId,
        redirect_uri: code.redirectUri,
        scope: code.scope,
        code_challenge: code.codeChallenge,
        nonce: code.nonce ?? null,
        user_id: code.userId,
        device_id: code.deviceId,
        upstream_token: cipher.seal(code.upstreamToken),
        session_id: code.sessionId,
        created_at: code.createdAt,
        expires_at: code.expiresAt,
      });
    },
    async takeCode(hash, now) {
      writable();
      // IMMEDIATE: of several processes taking one code at once, exactly one sees `used_at` still NULL.
      const row = useCode.immediate(hash, now);
      return row && { code: codeOf(row), firstUse: row.used_at === null };
    },
    async takeExpiredCodes(now) {
      writable();
      // One DELETE … RETURNING: of several processes sweeping at once, each row goes to exactly one.
      return oauth.deleteExpiredCodes
        .all(now)
        .filter((row) => row.used_at === null)
        .map(codeOf);
    },
  };
}
