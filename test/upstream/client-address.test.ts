/**
 * Issue 18 part 1: the homeserver sees the real client. The gateway's own calls on a client's behalf (its
 * login, registration and logout calls) carry `X-Forwarded-For` with the client's address, under the same
 * rules as proxied requests (`trusted_proxies` applied), so the homeserver's per-address limits
 * (`rc_login.address`, `rc_registration`) count each client instead of the gateway.
 */
import t from "tap";
import type { ReceivedRequest } from "../helpers/fake-homeserver.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";

const V3 = "/_matrix/client/v3";
/** The gateway trusts the test's loopback peer as a proxy, so the client is the hop it names. */
const BEHIND_PROXY = { yaml: 'trusted_proxies: ["127.0.0.1/32"]' };
const CLIENT = "203.0.113.7";
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "Content-Type": "application/json", "X-Forwarded-For": `198.51.100.1, ${CLIENT}`, ...headers },
});

/** The requests the homeserver received for `path` since `mark`. */
function calls(gw: TestGateway, mark: number, path: string): ReceivedRequest[] {
  return gw.homeserver.received.slice(mark).filter((r) => r.url.split("?")[0] === path);
}

t.test("the delegated login reaches the homeserver with the client's address", async (t) => {
  const gw = await startGateway(t, BEHIND_PROXY);
  const mark = gw.homeserver.received.length;
  const reply = await gw.request(
    `${V3}/login`,
    json({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" }),
  );
  t.equal(reply.status, 200);
  const [login] = calls(gw, mark, `${V3}/login`);
  t.equal(login?.headers["x-forwarded-for"], CLIENT, "the right-most untrusted hop, as for proxied requests");

  const refused = await gw.request(
    `${V3}/login`,
    json({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wrong" }),
  );
  t.equal(refused.status, 403);
  t.equal(calls(gw, mark, `${V3}/login`)[1]?.headers["x-forwarded-for"], CLIENT, "a refused login too");
});

t.test("without trusted proxies the socket's address is sent, never the client's own X-Forwarded-For", async (t) => {
  const gw = await startGateway(t);
  const mark = gw.homeserver.received.length;
  await gw.request(
    `${V3}/login`,
    json({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" }),
  );
  t.equal(calls(gw, mark, `${V3}/login`)[0]?.headers["x-forwarded-for"], "127.0.0.1");
});

t.test("registration reaches the homeserver with the client's address", async (t) => {
  const gw = await startGateway(t, BEHIND_PROXY);
  gw.homeserver.enableRegistration();
  const mark = gw.homeserver.received.length;
  const first = await gw.request(`${V3}/register`, json({ username: "carol", password: "pw-carol-1" }));
  t.equal(first.status, 401, "user-interactive auth starts");
  const done = await gw.request(
    `${V3}/register`,
    json({ username: "carol", password: "pw-carol-1", auth: { type: "m.login.dummy", session: first.body.session } }),
  );
  t.equal(done.status, 200);
  const registrations = calls(gw, mark, `${V3}/register`);
  t.equal(registrations.length, 2);
  for (const call of registrations) t.equal(call.headers["x-forwarded-for"], CLIENT);
});

t.test("logout and logout/all reach the homeserver with the client's address", async (t) => {
  const gw = await startGateway(t, BEHIND_PROXY);
  const first = await gw.login();
  const second = await gw.login();
  const mark = gw.homeserver.received.length;
  t.equal((await gw.request(`${V3}/logout`, json({}, bearer(first.access_token)))).status, 200);
  t.equal((await gw.request(`${V3}/logout/all`, json({}, bearer(second.access_token)))).status, 200);
  t.equal(calls(gw, mark, `${V3}/logout`)[0]?.headers["x-forwarded-for"], CLIENT);
  t.equal(calls(gw, mark, `${V3}/logout/all`)[0]?.headers["x-forwarded-for"], CLIENT);
});
