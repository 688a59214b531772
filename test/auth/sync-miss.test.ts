/**
 * Issue 16: SQLite reads synchronously, so a session-cache miss is checked in the request's own turn — no
 * promise from the store, its instrumentation or the session service — and a read that fails at once is
 * refused exactly as one that fails later: 503, counted, logged, nothing forwarded.
 */
import path from "node:path";
import t from "tap";
import { MatrixError } from "../../src/http/errors.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/store.js";
import { startGateway, testConfig } from "../helpers/gateway.js";
import { expectError, whoami } from "../helpers/session-api.js";

t.test("a cache miss on SQLite is answered without a promise", async (t) => {
  const storeYaml = `store: {type: sqlite, path: ${JSON.stringify(path.join(t.testdir(), "gateway.sqlite"))}}`;
  const gw = await startGateway(t, { storeYaml });
  const alice = await gw.login();
  const bob = await gw.login({ user: "bob", password: "builder" });
  await gw.gateway.sessions.revoke((await gw.gateway.sessions.authenticate(bob.access_token)).id); // bob is logged out
  gw.gateway.reload(testConfig(gw.homeserver.url, { storeYaml })); // a new runtime: an empty session cache

  const session = gw.gateway.sessions.authenticate(alice.access_token);
  t.notOk(session instanceof Promise, "answered at once");
  t.match(session, { userId: "@alice:example.org", deviceId: alice.device_id }, "alice's session, read from the store");

  let refusal: unknown;
  try {
    gw.gateway.sessions.authenticate(bob.access_token);
  } catch (error) {
    refusal = error;
  }
  t.ok(refusal instanceof MatrixError, "a session the store no longer has: refused at once");
  t.match(refusal, { status: 401, errcode: "M_UNKNOWN_TOKEN", extra: { soft_logout: false } });

  gw.gateway.reload(testConfig(gw.homeserver.url, { storeYaml }));
  const me = await whoami(gw, alice.access_token);
  t.equal(me.status, 200, "proxied after a miss");
  t.strictSame(me.body.user_id, "@alice:example.org");
  expectError(t, await whoami(gw, bob.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: false }, "Invalid access token passed.");
});

t.test("a store read that fails at once is refused like one that fails later: 503, counted, nothing forwarded", async (t) => {
  const memory = createMemoryStore();
  let broken = false;
  const store: Store = {
    ...memory,
    getRequestSession(id) {
      if (broken) throw new Error("SQLITE_IOERR: disk I/O error");
      return memory.getRequestSession(id);
    },
  };
  const gw = await startGateway(t, { deps: { store } });
  const login = await gw.login();
  broken = true;
  gw.gateway.reload(testConfig(gw.homeserver.url)); // an empty session cache: the next request reads the store
  const mark = gw.homeserver.received.length;
  expectError(t, await whoami(gw, login.access_token), 503, "M_UNKNOWN", {}, "The session store is unavailable");
  t.same(gw.homeserver.received.slice(mark), [], "fail closed: nothing forwarded");
  const errors = await gw.gateway.metrics.storeErrors.get();
  t.equal(errors.values.find((v) => v.labels.operation === "getRequestSession")?.value, 1, "counted");
  t.match(
    gw.logs.find((l) => l.msg === "store operation failed"),
    { level: "error", operation: "getRequestSession", err: { message: /SQLITE_IOERR/ } },
    "logged with the cause",
  );
  broken = false;
  t.equal((await whoami(gw, login.access_token)).status, 200, "and back once the store reads again");
});
