/**
 * Several tabs refreshing at once are not thieves (issue 15, part 5), with real concurrency through the
 * HTTP gateway: fifty parallel refreshes of one token all succeed with fifty distinct pairs; the first
 * pair used carries the session on, every other one is then refused quietly (spec 401 soft logout, seed
 * 403) without revoking the session; the original token presented afterwards is still theft.
 * Run on every store backend (Redis only with REDIS_URL).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t, { type Test } from "tap";
import { startGateway, type TestGateway } from "../helpers/gateway.js";
import {
  eventually,
  expectSessionRevoked,
  type RefreshForm,
  type Reply,
  refresh,
  SEED_REFRESH,
  SPEC_REFRESH_V3,
  upstreamTokenOf,
  whoami,
} from "../helpers/session-api.js";

const PARALLEL = 50;
const TOKENS = "tokens: {access_ttl: 5m, refresh_ttl: 1d, session_max_age: 7d, refresh_reuse_grace: 30s}";

const BACKENDS: { name: string; storeYaml: (t: Test) => string }[] = [
  { name: "memory", storeYaml: () => "store: {type: memory}" },
  {
    name: "sqlite",
    storeYaml: (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-siblings-"));
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
      return `store: {type: sqlite, path: "${path.join(dir, "gw.sqlite")}"}`;
    },
  },
];
if (process.env.REDIS_URL) {
  const url = process.env.REDIS_URL;
  BACKENDS.push({
    name: "redis",
    storeYaml: () => `store: {type: redis, url: "${url}", redis: {key_prefix: "test:${crypto.randomUUID()}:"}}`,
  });
}

/** The form's refusal, asserted as the exact body. */
function expectQuietRefusal(t: Test, reply: Reply, form: RefreshForm, what: string): void {
  t.equal(reply.status, form.refusal.status, `${what}: status ${form.refusal.status}`);
  t.strictSame(reply.body, { errcode: form.refusal.errcode, error: reply.body?.error, ...form.refusal.extra }, `${what}: exact body`);
  t.type(reply.body?.error, "string");
}

async function race(t: Test, gw: TestGateway, form: RefreshForm): Promise<void> {
  const login = await gw.login();
  const upstreamToken = upstreamTokenOf(gw.homeserver, login.device_id);

  const replies = await Promise.all(Array.from({ length: PARALLEL }, () => refresh(gw, login.refresh_token, form)));
  t.same(
    replies.map((r) => r.status),
    Array(PARALLEL).fill(200),
    `all ${PARALLEL} parallel refreshes succeed`,
  );
  const pairs = replies.map((r) => r.body as { access_token: string; refresh_token: string });
  t.equal(new Set(pairs.map((p) => p.refresh_token)).size, PARALLEL, `${PARALLEL} distinct refresh tokens`);

  // Any one of them may carry the session on, not only the first issued: take one from the middle.
  const chosen = Math.floor(PARALLEL / 2) + 3;
  const carried = await refresh(gw, pairs[chosen]?.refresh_token, form);
  t.equal(carried.status, 200, "the first sibling used rotates");

  const others = pairs.filter((_, i) => i !== chosen);
  const refusals = await Promise.all(others.map((p) => refresh(gw, p.refresh_token, form)));
  refusals.forEach((reply, i) => {
    expectQuietRefusal(t, reply, form, `sibling ${i}`);
  });
  t.equal(gw.homeserver.logouts.length, 0, "nothing was logged out upstream");
  const quiet = gw.logs.filter((l) => l.event === "refresh_sibling_superseded");
  t.equal(quiet.length, PARALLEL - 1, "one info line per quiet refusal");
  t.match(quiet[0], { level: "info", user_id: "@alice:example.org", session: String });
  t.notOk(
    quiet.some((l) => pairs.some((p) => JSON.stringify(l).includes(p.refresh_token))),
    "no refresh token in those lines",
  );
  t.equal(gw.logs.filter((l) => l.event === "refresh_token_reuse").length, 0, "no theft was logged");

  // The session lives on: the newest access token works, the successor refresh token refreshes.
  t.equal((await whoami(gw, carried.body.access_token)).status, 200, "the carried pair's access token works");
  const next = await refresh(gw, carried.body.refresh_token, form);
  t.equal(next.status, 200, "the successor refresh token refreshes");
  t.equal((await whoami(gw, next.body.access_token)).status, 200, "the newest access token works");

  // The original token's line has moved on: presenting it again is theft.
  expectQuietRefusal(t, await refresh(gw, login.refresh_token, form), form, "the original token again");
  await expectSessionRevoked(t, gw, next.body.access_token);
  t.ok(await eventually(() => gw.homeserver.logouts.some((l) => l.token === upstreamToken)), "the upstream session was logged out");
  t.equal(gw.logs.filter((l) => l.event === "refresh_token_reuse").length, 1, "theft was logged");
}

for (const backend of BACKENDS) {
  for (const form of [SPEC_REFRESH_V3, SEED_REFRESH]) {
    t.test(`${backend.name}, ${form.name}: ${PARALLEL} tabs refreshing at once`, async (t) => {
      const gw = await startGateway(t, { tokens: TOKENS, storeYaml: backend.storeYaml(t) });
      await race(t, gw, form);
    });
  }
}
