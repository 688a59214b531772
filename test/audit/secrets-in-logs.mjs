/**
 * Runs after the whole suite (`npm test`'s posttest): searches every log line that every gateway started
 * by test/helpers/gateway.ts wrote, for any secret — an access or ID token (JWT), a refresh token (magr_…, mago_…), a
 * homeserver token the fake homeserver issued (syt_…), or a password the tests used. Zero hits, or exit 1.
 */
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2] ?? ".tap/audit";
const SECRET_SHAPES = [
  ["access token", /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ["refresh token", /magr_[A-Za-z0-9_-]{20,}/],
  ["OAuth refresh token", /mago_[A-Za-z0-9_-]{20,}/],
  ["homeserver token", /syt_[A-Za-z0-9_-]{10,}/],
];

let files = [];
try {
  files = fs.readdirSync(dir).filter((f) => f.endsWith(".jsonl"));
} catch {
  // no gateway was started with auditing on
}
let lines = 0;
const passwords = new Set();
const leaks = [];
for (const file of files) {
  for (const record of fs.readFileSync(path.join(dir, file), "utf8").split("\n")) {
    if (!record) continue;
    const { passwords: known, logs } = JSON.parse(record);
    for (const p of known) if (p.length >= 6) passwords.add(p);
    for (const line of logs) {
      lines++;
      const text = JSON.stringify(line);
      for (const [what, shape] of SECRET_SHAPES) if (shape.test(text)) leaks.push(`${what} in: ${text.slice(0, 300)}`);
      for (const p of known) if (p.length >= 6 && text.includes(p)) leaks.push(`a password in: ${text.slice(0, 300)}`);
    }
  }
}
if (lines === 0) {
  console.log("secrets-in-logs: not ok — no log lines were recorded (was MAG_AUDIT_DIR set?)");
  process.exit(1);
}
for (const leak of leaks.slice(0, 20)) console.log(`  leak: ${leak}`);
console.log(
  `secrets-in-logs: ${leaks.length === 0 ? "ok" : "not ok"} — ${lines} log lines from ${files.length} test processes, ${passwords.size} passwords, ${leaks.length} leaks`,
);
process.exit(leaks.length === 0 ? 0 : 1);
