/**
 * `/ready` and the store's write probe (issue 15, part 6): a store that reads but cannot write (disk
 * full, read-only) makes the instance not ready, with the reason; the probe runs at most once a second.
 * The handler is called directly with a hand-moved clock; the homeserver is a real fake one.
 */
import type { ServerResponse } from "node:http";
import t from "tap";
import { newRequestInfo } from "../../src/http/request-info.js";
import { createReadiness, WRITE_PROBE_CACHE_MS } from "../../src/routes/health.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/store.js";
import { startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { SERVER_NAME, startGateway } from "../helpers/gateway.js";
import { expectError } from "../helpers/session-api.js";

/** A memory store whose reads and writes can be made to fail, counting write probes. */
function faultyStore() {
  const store = createMemoryStore();
  const faults = { read: false, write: false, probes: 0 };
  const wrapped: Store = {
    ...store,
    async countSessions() {
      if (faults.read) throw new Error("disk I/O error");
      return store.countSessions();
    },
    async probeWrite() {
      faults.probes++;
      if (faults.write) throw new Error("database or disk is full");
    },
    async createSession(session, idleMs) {
      if (faults.write) throw new Error("database or disk is full");
      return store.createSession(session, idleMs);
    },
  };
  return { store: wrapped, faults };
}

/** Just enough of a ServerResponse for sendJson. */
function fakeResponse() {
  const reply = { status: 0, body: undefined as unknown };
  const res = {
    headersSent: false,
    writeHead(status: number) {
      reply.status = status;
      return res;
    },
    end(payload: string) {
      reply.body = JSON.parse(payload);
    },
    destroy() {},
  };
  return { res: res as unknown as ServerResponse, reply };
}

t.test("readiness: read, write and upstream, each with its reason; the write probe is cached", async (t) => {
  const homeserver = await startFakeHomeserver(SERVER_NAME);
  t.teardown(() => homeserver.close());
  const { store, faults } = faultyStore();
  let now = 1_000_000;
  const ready = createReadiness(store, homeserver.url, () => now);
  const ask = async () => {
    const { res, reply } = fakeResponse();
    await ready({} as never, res, newRequestInfo({ headers: {} } as never));
    return reply;
  };

  t.same(await ask(), { status: 200, body: { status: "ready", store: "ok", upstream: "ok" } });
  t.equal(faults.probes, 1);

  faults.write = true;
  await Promise.all([ask(), ask(), ask()]);
  t.equal(faults.probes, 1, "within a second, the probe's result is reused (no write per request)");
  now += WRITE_PROBE_CACHE_MS;
  t.same(await ask(), {
    status: 503,
    body: { status: "not ready", store: "failing", upstream: "ok", reason: "the session store cannot be written" },
  });
  t.equal(faults.probes, 2, "probed again after a second");
  t.equal((await ask()).status, 503, "a failed probe is cached too");
  t.equal(faults.probes, 2);

  faults.read = true;
  t.same(await ask(), {
    status: 503,
    body: { status: "not ready", store: "failing", upstream: "ok", reason: "the session store cannot be read" },
  });

  faults.read = false;
  faults.write = false;
  now += WRITE_PROBE_CACHE_MS;
  t.equal((await ask()).status, 200, "ready again once the store takes writes");
});

t.test("a store that cannot write: /ready 503 with the reason, a login 503 M_UNKNOWN", async (t) => {
  const { store, faults } = faultyStore();
  const gw = await startGateway(t, { deps: { store } });
  t.equal((await gw.request("/ready")).status, 200);
  faults.write = true;
  // The probe result of the first /ready may be reused for up to a second: poll, never sleep a fixed time.
  const deadline = Date.now() + 10_000;
  let ready = await gw.request("/ready");
  while (ready.status === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    ready = await gw.request("/ready");
  }
  t.equal(ready.status, 503);
  t.same(ready.body, { status: "not ready", store: "failing", upstream: "ok", reason: "the session store cannot be written" });
  const login = await gw.request("/_matrix/client/v3/login", {
    method: "POST",
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" }),
  });
  expectError(t, login, 503, "M_UNKNOWN");
});
