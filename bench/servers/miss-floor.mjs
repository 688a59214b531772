/**
 * The floor under a real cache miss: the gateway's forwarder (as in gateway-forwarder.mjs) behind only the three
 * steps a miss cannot skip, done with the libraries the gateway must use — the JWT verified with jsonwebtoken
 * (HS256 `KeyObject`, `algorithms`, issuer, audience, `exp` required), the session read from SQLite by
 * better-sqlite3 (the gateway's table shape, WAL, one prepared statement) and its homeserver credential opened
 * with AES-256-GCM — and nothing else: no router, no claims beyond the library's, no session cache, log, metric
 * or limit. Not a configuration anyone could run; it shows what issue 16's miss target (≥ 0.80× bare
 * http-proxy-3) leaves for the gateway once those three are paid for. Opt-in: `BENCH_SCENARIOS=…,missfloor/`.
 *
 * IPC: {cmd: "seed", count} answers `count` tokens, one per stored session.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import jwt from "jsonwebtoken";
import { answerCalls } from "../lib/child.mjs";
import { serveForwarder } from "../lib/forwarder-server.mjs";

const ISSUER = "https://gateway.bench.local";
const AUDIENCE = "bench.local";
const jwtKey = crypto.createSecretKey(crypto.randomBytes(32));
const sealKey = crypto.createSecretKey(crypto.randomBytes(32));
const VERIFY = { algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE, complete: true };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "miss-floor-"));
const db = new Database(path.join(dir, "sessions.sqlite"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.exec(`CREATE TABLE sessions (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL, upstream_token TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, refresh_family TEXT UNIQUE, refresh_hash TEXT
) STRICT`);
const insert = db.prepare("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
const byId = db.prepare("SELECT id, user_id, upstream_token, expires_at FROM sessions WHERE id = ?");

function seal(plaintext) {
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv("aes-256-gcm", sealKey, nonce);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64url");
}

function open(sealed) {
  const bytes = Buffer.from(sealed, "base64url");
  const decipher = crypto.createDecipheriv("aes-256-gcm", sealKey, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
}

serveForwarder((req) => {
  const authorization = req.headers.authorization;
  if (!authorization?.startsWith("Bearer ")) return undefined;
  let claims;
  try {
    claims = jwt.verify(authorization.slice(7), jwtKey, VERIFY).payload;
  } catch {
    return undefined;
  }
  const row = byId.get(claims.sid);
  if (!row || row.user_id !== claims.sub || row.expires_at <= Date.now()) return undefined;
  return { upstreamToken: open(row.upstream_token), sessionId: row.id };
});

answerCalls({
  seed: async ({ count }) => {
    const now = Date.now();
    const tokens = [];
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const id = crypto.randomBytes(16).toString("base64url");
        const userId = `@bench${i}:bench.local`;
        insert.run(
          id,
          userId,
          `DEVICE${i}`,
          seal(`syt_${crypto.randomBytes(24).toString("base64url")}`),
          now,
          now + 86_400_000,
          crypto.randomBytes(16).toString("base64url"),
          crypto.randomBytes(32).toString("base64url"),
        );
        const payload = {
          sub: userId,
          sid: id,
          jti: crypto.randomBytes(12).toString("base64url"),
          iat: Math.floor(now / 1000),
          exp: now / 1000 + 86_400,
        };
        tokens.push(
          jwt.sign(payload, jwtKey, {
            algorithm: "HS256",
            issuer: ISSUER,
            audience: AUDIENCE,
            header: { alg: "HS256", typ: "at+jwt", kid: "k1" },
          }),
        );
      }
    })();
    return { tokens };
  },
});
process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
