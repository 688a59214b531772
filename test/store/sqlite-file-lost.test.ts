/**
 * Lost data is noticed (issue 15, part 6): when the SQLite file or its folder is deleted, or the file is
 * replaced by another one, while the gateway runs, it notices within seconds (src/store/file-identity.ts),
 * logs an error once, `/ready` fails, and writes are refused (a login answers 503 M_UNKNOWN) instead of
 * going into a file nobody will read again. Sessions already cached keep working.
 * Polls with generous deadlines, never fixed sleeps: the machine may be busy.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import t, { type Test } from "tap";
import { startGateway, type TestGateway } from "../helpers/gateway.js";
import { eventually, expectError, refresh, whoami } from "../helpers/session-api.js";

const DEADLINE_MS = 10_000;

async function pollReady(gw: TestGateway, status: number): Promise<Awaited<ReturnType<TestGateway["request"]>>> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const reply = await gw.request("/ready");
    if (reply.status === status || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const CASES: { name: string; lose: (file: string, dir: string) => void; reason: RegExp }[] = [
  {
    name: "the file is deleted",
    lose: (file) => {
      for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
    },
    reason: /was deleted while the gateway had it open/,
  },
  {
    name: "its folder is deleted",
    lose: (_file, dir) => fs.rmSync(dir, { recursive: true, force: true }),
    reason: /was deleted while the gateway had it open/,
  },
  {
    name: "the file is replaced by another one",
    lose: (file, dir) => {
      // As a restore would: a complete other database renamed over the path (the old one's WAL files belong
      // to the old file, so they go).
      const other = path.join(dir, "other.sqlite");
      const db = new Database(other);
      db.exec("CREATE TABLE unrelated (x INTEGER)");
      db.close();
      for (const suffix of ["-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
      fs.renameSync(other, file);
    },
    reason: /was replaced by another file while the gateway had it open/,
  },
];

function tempDir(t: Test): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-lost-"));
  t.teardown(() => fs.rmSync(parent, { recursive: true, force: true }));
  return path.join(parent, "data");
}

for (const c of CASES) {
  t.test(`sqlite: ${c.name} while running → noticed, /ready 503, writes refused`, async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, "gw.sqlite");
    const gw = await startGateway(t, { storeYaml: `store: {type: sqlite, path: "${file}"}` });
    t.equal((await pollReady(gw, 200)).status, 200, "ready at first");
    const login = await gw.login();

    c.lose(file, dir);
    const ready = await pollReady(gw, 503);
    t.equal(ready.status, 503, `/ready fails within ${DEADLINE_MS / 1000}s`);
    t.same(ready.body, { status: "not ready", store: "failing", upstream: "ok", reason: "the session store cannot be written" });

    t.ok(await eventually(() => gw.logs.some((l) => l.event === "store_file_lost"), DEADLINE_MS), "an error line");
    const lost = gw.logs.filter((l) => l.event === "store_file_lost");
    t.equal(lost.length, 1, "one error line");
    t.match(lost[0], { level: "error", path: file, msg: c.reason });

    expectError(
      t,
      await gw.request("/_matrix/client/v3/login", {
        method: "POST",
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: "builder" }),
      }),
      503,
      "M_UNKNOWN",
    );
    expectError(t, await refresh(gw, login.refresh_token), 503, "M_UNKNOWN");
    t.equal((await whoami(gw, login.access_token)).status, 200, "a cached session still works");
    t.equal(gw.logs.filter((l) => l.event === "store_file_lost").length, 1, "the loss is logged once");
    if (c.name.includes("replaced")) {
      const other = new Database(file, { readonly: true });
      t.teardown(() => other.close());
      const tables = other.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      t.same(tables, [{ name: "unrelated" }], "nothing was written into the file that replaced it");
    } else {
      t.notOk(fs.existsSync(file), "no new file was created in its place");
    }
  });
}
