/**
 * security.md, "Refresh tokens and sessions": every box is a named passing test, here or in the file
 * named next to it.
 *
 * - [x] rotated token reused outside the grace window → whole session revoked, upstream logged out
 *       → test/routes/refresh.test.ts "rotation rules" › "reuse at the end of the grace is theft",
 *         "reuse after the successor was used is theft, even inside the grace", "with refresh_reuse_grace 0s any reuse is theft",
 *         "theft does not touch the user's other sessions"; per form: "… › theft is refused in this form's words"
 * - [x] two concurrent refreshes with the same token (inside and outside the grace window)
 *       → test/routes/refresh.test.ts "rotation rules" › "two concurrent refreshes with one token inside the grace both succeed",
 *         "two concurrent refreshes with one token and no grace: one wins, then the session is revoked";
 *         fifty at once (several tabs: siblings die quietly, the session is kept) → test/routes/refresh-siblings.test.ts
 * - [x] reuse after logout; after `logout/all`; after `session_max_age`; after `refresh_ttl` idle
 *       → test/routes/logout.test.ts "PREFIX › logout ends this session only", "PREFIX › logout/all ends every session of the
 *         user and no one else's" (both refuse the refresh token afterwards); test/routes/refresh.test.ts "rotation rules" ›
 *         "session_max_age ends the session however often it is refreshed", "a refresh token unused for refresh_ttl is dead"
 * - [x] the store holds hashes of refresh tokens only; upstream credentials are encrypted at rest
 *       → test/store/sqlite.test.ts "sqlite: a restart logs nobody out, and the file holds no secret in clear",
 *         "sqlite file store: sessions survive reopening, the upstream token is sealed"
 * - [x] a restart loses no session (sqlite) → test/store/sqlite.test.ts "sqlite: a restart logs nobody out, …"
 * - [x] a crash mid-refresh leaves no half-rotated state (one transaction) → the two tests below.
 *
 * How the crash is made: a trigger, created from a second connection to the same file, fails the
 * store's statement with RAISE(FAIL) *after* its write. FAIL (unlike ABORT) keeps the statement's
 * own change, so only a rollback of the whole transaction can undo it: whatever is left in the file
 * afterwards is what a crash at that point would leave.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import t, { type Test } from "tap";
import { startGateway, type TestGateway } from "../helpers/gateway.js";
import { expectError, expectRefused, expectSessionRevoked, refresh, upstreamTokenOf, whoami } from "../helpers/session-api.js";

const UNAVAILABLE = "The session store is unavailable";
/** Strict single use: any reuse of a rotated token is theft, so a half-rotated chain cannot pass as a retry. */
const STRICT_TOKENS = "tokens: {access_ttl: 5m, refresh_ttl: 1d, session_max_age: 7d, refresh_reuse_grace: 0s}";

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("base64url");

interface SqliteGateway {
  gw: TestGateway;
  /** A second connection to the gateway's file, as an operator (or a crash) would see it. */
  db: Database.Database;
}

async function startOnSqlite(t: Test): Promise<SqliteGateway> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-crash-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "gw.sqlite");
  const gw = await startGateway(t, { storeYaml: `store: {type: sqlite, path: "${file}"}`, tokens: STRICT_TOKENS });
  const db = new Database(file);
  db.pragma("busy_timeout = 5000");
  t.teardown(() => db.close());
  return { gw, db };
}

/** The refresh columns of every session row. */
function rows(db: Database.Database) {
  return db.prepare("SELECT id, refresh_hash, previous_refresh_hash, previous_refresh_used_at FROM sessions ORDER BY id").all();
}

async function storeErrors(gw: TestGateway, operation: string): Promise<number> {
  const metric = await gw.gateway.metrics.storeErrors.get();
  return metric.values.find((v) => v.labels.operation === operation)?.value ?? 0;
}

t.test("a crash mid-refresh leaves no half-rotated state: the original refresh token still works", async (t) => {
  const { gw, db } = await startOnSqlite(t);
  const login = await gw.login();
  const before = rows(db);
  t.match(before, [{ refresh_hash: sha256(login.refresh_token), previous_refresh_hash: null }], "one fresh session");

  db.exec("CREATE TRIGGER crash_mid_refresh AFTER UPDATE ON sessions BEGIN SELECT RAISE(FAIL, 'simulated crash'); END");
  const failed = await refresh(gw, login.refresh_token);
  expectError(t, failed, 503, "M_UNKNOWN", {}, UNAVAILABLE);
  t.same(rows(db), before, "the row is exactly as before the refresh: the update was rolled back with its transaction");
  t.equal(await storeErrors(gw, "rotateRefreshToken"), 1, "the failure is counted");
  t.ok(
    gw.logs.some((line) => line.operation === "rotateRefreshToken" && line.msg === "store operation failed"),
    "and logged for the operator",
  );
  db.exec("DROP TRIGGER crash_mid_refresh");

  // Nothing was used up: with a 0s grace, a token the failed attempt had rotated would now be theft.
  const next = await refresh(gw, login.refresh_token);
  t.equal(next.status, 200, "the original refresh token refreshes");
  t.match(rows(db), [{ refresh_hash: sha256(next.body.refresh_token), previous_refresh_hash: sha256(login.refresh_token) }]);
  t.equal((await whoami(gw, next.body.access_token)).status, 200, "the new access token works");
  t.equal((await whoami(gw, login.access_token)).status, 200, "the session was never revoked");
  t.same(gw.homeserver.logouts, [], "no upstream logout");
  // …and the chain still enforces single use.
  expectRefused(t, await refresh(gw, login.refresh_token));
});

t.test("a crash in the middle of a theft's revocation leaves the session whole, and the next reuse is still caught", async (t) => {
  const { gw, db } = await startOnSqlite(t);
  const login = await gw.login();
  const upstreamToken = upstreamTokenOf(gw.homeserver, login.device_id);
  const next = await refresh(gw, login.refresh_token);
  t.equal(next.status, 200);
  const rotated = rows(db);

  // Theft deletes the session, then records the revocation: fail the second statement.
  db.exec("CREATE TRIGGER crash_mid_revocation AFTER INSERT ON revocations BEGIN SELECT RAISE(FAIL, 'simulated crash'); END");
  expectError(t, await refresh(gw, login.refresh_token), 503, "M_UNKNOWN", {}, UNAVAILABLE);
  t.same(rows(db), rotated, "the deletion was rolled back with the failed revocation record");
  t.same(db.prepare("SELECT * FROM revocations").all(), [], "no revocation was recorded");
  t.same(gw.homeserver.logouts, [], "nothing was logged out upstream for a theft that did not happen");
  db.exec("DROP TRIGGER crash_mid_revocation");

  // The same reuse, once the store works: theft, whole and at once.
  expectRefused(t, await refresh(gw, login.refresh_token));
  t.same(rows(db), [], "the session is gone");
  t.equal((db.prepare("SELECT COUNT(*) AS n FROM revocations").get() as { n: number }).n, 1, "and its revocation recorded");
  await expectSessionRevoked(t, gw, next.body.access_token);
  expectRefused(t, await refresh(gw, next.body.refresh_token));
  for (let i = 0; i < 100 && !gw.homeserver.logouts.length; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(gw.homeserver.logouts, [{ path: "/logout", token: upstreamToken }], "the upstream session was logged out once");
});
