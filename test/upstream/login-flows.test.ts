/**
 * Issue 18 part 2: the homeserver's login flows. In the delegated mode `GET …/login` lists what the homeserver
 * offers (SSO with its identity providers, `m.login.token`, the password; never `m.login.application_service`),
 * cached a minute and refetched after a failure; `POST …/login` with `m.login.token` is forwarded like a password
 * login and wrapped in a gateway session. With a users file, the password flow only. A passthrough prefix never
 * carries a gateway token upstream.
 */
import fs from "node:fs";
import path from "node:path";
import t from "tap";
import { hashPassword } from "../../src/credentials/password-hash.js";
import { FLOWS_RETRY_MS, FLOWS_TTL_MS } from "../../src/upstream/login-flows.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import { postJson, whoami } from "../helpers/session-api.js";

const V3 = "/_matrix/client/v3";
const SSO = {
  type: "m.login.sso",
  identity_providers: [{ id: "oidc-github", name: "GitHub", brand: "github" }],
};
const HOMESERVER_FLOWS = [
  SSO,
  { type: "m.login.token", get_login_token: true },
  { type: "m.login.password" },
  { type: "m.login.application_service" },
  { type: "org.example.custom" },
];
const ADVERTISED = [SSO, { type: "m.login.token", get_login_token: true }, { type: "m.login.password" }];

const flowRequests = (gw: TestGateway) => gw.homeserver.received.filter((r) => r.method === "GET" && r.url === `${V3}/login`).length;

t.test("delegated mode: the homeserver's flows, without m.login.application_service", async (t) => {
  const gw = await startGateway(t);
  gw.homeserver.setLoginFlows(HOMESERVER_FLOWS);
  for (const prefix of ["/_matrix/client/api/v1", "/_matrix/client/r0", V3, "/_matrix/client/unstable"]) {
    const reply = await gw.request(`${prefix}/login`);
    t.equal(reply.status, 200, prefix);
    t.same(reply.body, { flows: ADVERTISED }, prefix);
  }
  t.equal(flowRequests(gw), 1, "fetched once, then cached");

  gw.homeserver.setLoginFlows([{ type: "m.login.password" }]);
  gw.clock.advance(FLOWS_TTL_MS - 1);
  t.same((await gw.request(`${V3}/login`)).body, { flows: ADVERTISED }, "still cached");
  gw.clock.advance(1);
  t.same((await gw.request(`${V3}/login`)).body, { flows: [{ type: "m.login.password" }] }, "refetched after the TTL");
});

t.test("a failed fetch: the password flow (or the last good list), and a new try seconds later", async (t) => {
  const gw = await startGateway(t);
  gw.homeserver.setLoginFlows("error");
  t.same((await gw.request(`${V3}/login`)).body, { flows: [{ type: "m.login.password" }] }, "nothing known yet: the password");
  gw.homeserver.setLoginFlows(HOMESERVER_FLOWS);
  t.same((await gw.request(`${V3}/login`)).body, { flows: [{ type: "m.login.password" }] }, "not asked again at once");
  gw.clock.advance(FLOWS_RETRY_MS);
  t.same((await gw.request(`${V3}/login`)).body, { flows: ADVERTISED }, "asked again seconds later, not a minute");
  gw.homeserver.setLoginFlows("error");
  gw.clock.advance(FLOWS_TTL_MS);
  t.same((await gw.request(`${V3}/login`)).body, { flows: ADVERTISED }, "the last good list while the homeserver fails");
  t.equal(flowRequests(gw), 3);
});

t.test("users-file mode: the password flow only, and m.login.token is an unknown type", async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, "users.yaml");
  fs.writeFileSync(file, `users:\n  alice: "${await hashPassword("file-pass-alice")}"\n`);
  const gw = await startGateway(t, {
    yaml: [`credentials: {source: users_file, users_file: "${file}"}`, 'upstream_identity: {mode: appservice, as_token: "as-token"}'].join(
      "\n",
    ),
  });
  gw.homeserver.setLoginFlows(HOMESERVER_FLOWS);
  t.same((await gw.request(`${V3}/login`)).body, { flows: [{ type: "m.login.password" }] });
  t.equal(flowRequests(gw), 0, "the homeserver is not asked");
  const token = gw.homeserver.issueLoginToken("alice");
  const reply = await postJson(gw, `${V3}/login`, { type: "m.login.token", token });
  t.equal(reply.status, 400);
  t.same(reply.body, { errcode: "M_UNKNOWN", error: "Bad login type." });
  t.equal(gw.homeserver.logins.length, 0);
});

t.test("m.login.token is forwarded to the homeserver and wrapped in a gateway session", async (t) => {
  const gw = await startGateway(t, { yaml: 'trusted_proxies: ["127.0.0.1/32"]' });
  const token = gw.homeserver.issueLoginToken("alice");
  const reply = await postJson(
    gw,
    `${V3}/login`,
    { type: "m.login.token", token, refresh_token: true, initial_device_display_name: "Alice's laptop" },
    { "X-Forwarded-For": "203.0.113.9" },
  );
  t.equal(reply.status, 200);
  t.same(Object.keys(reply.body).sort(), ["access_token", "device_id", "expires_in_ms", "home_server", "refresh_token", "user_id"]);
  t.equal(reply.body.user_id, "@alice:example.org");
  t.match(reply.body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, "the gateway's JWT, not the homeserver's token");
  const me = await whoami(gw, reply.body.access_token);
  t.same(me.body, { user_id: "@alice:example.org", device_id: reply.body.device_id }, "the session acts as the homeserver's device");

  const forwarded = gw.homeserver.received.filter((r) => r.method === "POST" && r.url === `${V3}/login`);
  t.equal(forwarded.length, 1);
  t.same(JSON.parse(forwarded[0]?.body ?? "{}"), { type: "m.login.token", token, initial_device_display_name: "Alice's laptop" });
  t.equal(forwarded[0]?.headers["x-forwarded-for"], "203.0.113.9", "the client's address, as for a password login");

  const again = await postJson(gw, `${V3}/login`, { type: "m.login.token", token });
  t.equal(again.status, 403);
  t.same(again.body, { errcode: "M_FORBIDDEN", error: "Invalid login token" }, "a token works once");
  const missing = await postJson(gw, `${V3}/login`, { type: "m.login.token" });
  t.same([missing.status, missing.body], [400, { errcode: "M_UNKNOWN", error: "Missing JSON keys." }], "Synapse's answer");
});

t.test("m.login.token counts against the login limits like a password login", async (t) => {
  const gw = await startGateway(t, { rateLimits: "rate_limits: {login: {per_address: {points: 2, duration: 1m}}}" });
  for (let i = 0; i < 2; i++) t.equal((await postJson(gw, `${V3}/login`, { type: "m.login.token", token: `bogus-${i}` })).status, 403);
  const limited = await postJson(gw, `${V3}/login`, { type: "m.login.token", token: gw.homeserver.issueLoginToken("alice") });
  t.equal(limited.status, 429);
  t.equal(limited.body.errcode, "M_LIMIT_EXCEEDED");
  t.equal(gw.homeserver.logins.length, 2, "the limited attempt never reached the homeserver");
});

t.test("a passthrough prefix never carries a gateway token; federation's X-Matrix passes", async (t) => {
  const gw = await startGateway(t, { yaml: 'passthrough_prefixes: ["/_synapse/client/", "/_matrix/federation/"]' });
  const { access_token: jwt } = await gw.login();
  const mark = gw.homeserver.received.length;
  await gw.request(`/_synapse/client/oidc/callback?code=abc&access_token=${jwt};state=xyz`, { headers: bearer(jwt) });
  const xMatrix = 'X-Matrix origin="other.org",key="ed25519:1",sig="c2ln"';
  const federation = await gw.request("/_matrix/federation/v1/version", { headers: { Authorization: xMatrix } });
  t.equal(federation.body.authorization, xMatrix, "the federation signature reached the homeserver");
  const [callback] = gw.homeserver.received.slice(mark);
  t.equal(callback?.url, "/_synapse/client/oidc/callback?code=abc&state=xyz", "the JWT is taken out of the query, the rest kept");
  t.equal(callback?.headers.authorization, undefined, "and out of the header");
  t.notOk(
    gw.homeserver.received.slice(mark).some((r) => JSON.stringify(r).includes(jwt)),
    "the JWT is nowhere in what the homeserver received",
  );
});
