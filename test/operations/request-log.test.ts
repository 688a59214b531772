/**
 * The request log and request ids (docs/operations.md, "Logs"), and the probes `/health` and `/ready`:
 * - one `event: "request"` line per request, with method, scrubbed path, status, ms, upstream_ms, route,
 *   client, user_id, request_id;
 * - no token, password or homeserver credential in any log line (contract "State and scale");
 * - `X-Request-Id`: a well-formed client id is kept, sent upstream and echoed; otherwise a UUID.
 */

import t from "tap";
import { GENERATED_REQUEST_ID } from "../../src/http/request-id.js";
import { startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";

const WHOAMI = "/_matrix/client/v3/account/whoami";
const UUID = GENERATED_REQUEST_ID; // a fresh id of the gateway's own

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "Content-Type": "application/json", ...headers },
});

const requestLines = (gw: TestGateway) => gw.logs.filter((line) => line.event === "request");

/**
 * The line is written when the server side of the response closes, which can be a moment after the
 * client has read the body: wait (bounded) until `count` request lines are there.
 */
async function settle(gw: TestGateway, count: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 100 && requestLines(gw).length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return requestLines(gw);
}

t.test("one request line per request, with its fields", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  const whoami = await gw.request(WHOAMI, { headers: bearer(login.access_token) });
  t.equal(whoami.status, 200);
  const versions = await gw.request("/_matrix/client/versions");
  t.equal(versions.status, 200);
  const missing = await gw.request("/nowhere");
  t.equal(missing.status, 404);
  const noToken = await gw.request(WHOAMI);
  t.equal(noToken.status, 401);

  const lines = await settle(gw, 5);
  t.equal(lines.length, 5, "exactly one line per request");
  const [loginLine, whoamiLine, versionsLine, missingLine, noTokenLine] = lines;

  // Login: answered by the gateway itself, so no upstream_ms.
  t.match(loginLine, {
    event: "request",
    method: "POST",
    path: "/_matrix/client/v3/login",
    status: 200,
    ms: Number,
    route: "login",
    client: "127.0.0.1",
    request_id: UUID,
  });
  t.notOk("upstream_ms" in (loginLine as object), "no upstream time for a request the gateway answers");

  // A proxied request: the user and the homeserver's time are known.
  t.match(whoamiLine, {
    method: "GET",
    path: WHOAMI,
    status: 200,
    ms: Number,
    upstream_ms: Number,
    route: "authenticated",
    client: "127.0.0.1",
    user_id: "@alice:example.org",
    request_id: whoami.headers.get("x-request-id"),
  });
  t.ok((whoamiLine?.upstream_ms as number) <= (whoamiLine?.ms as number), "the upstream part is within the whole");

  t.match(versionsLine, { method: "GET", path: "/_matrix/client/versions", status: 200, route: "public", upstream_ms: Number });
  t.notOk("user_id" in (versionsLine as object), "no user without a token");
  t.match(missingLine, { method: "GET", path: "/nowhere", status: 404, route: "rejected" });
  // Refused before it was classified: either label is fair, the line must still be there.
  t.match(noTokenLine, { method: "GET", path: WHOAMI, status: 401, route: /^(authenticated|rejected)$/ });
});

t.test("a token in the query string never reaches the log", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  const token = login.access_token as string;
  // A proxied request is logged with the URL as forwarded (the token taken out); a refused one with the
  // token replaced by [redacted]. Either way the token is gone and the other parameters stay.
  const cases = [
    { path: `${WHOAMI}?access_token=${token}`, status: 200, logged: [WHOAMI, `${WHOAMI}?access_token=[redacted]`] },
    {
      path: `${WHOAMI}?a=1&access_token=${token}&b=2`,
      status: 200,
      logged: [`${WHOAMI}?a=1&b=2`, `${WHOAMI}?a=1&access_token=[redacted]&b=2`],
    },
    { path: `${WHOAMI}?access_token=not-a-real-token-but-secret`, status: 401, logged: [`${WHOAMI}?access_token=[redacted]`] },
    { path: `${WHOAMI}?access%5Ftoken=not-a-real-token-but-secret`, status: 401, logged: [`${WHOAMI}?access%5Ftoken=[redacted]`] },
  ];
  for (const c of cases) {
    const reply = await gw.request(c.path);
    t.equal(reply.status, c.status, c.path.slice(0, 60));
  }
  const lines = await settle(gw, 1 + cases.length);
  t.equal(lines.length, 1 + cases.length);
  cases.forEach((c, i) => {
    const logged = lines[i + 1]?.path as string;
    t.ok(c.logged.includes(logged), `logged as ${logged}`);
  });
  const everything = JSON.stringify(gw.logs);
  t.notOk(everything.includes(token), "the access token is nowhere in the log");
  t.notOk(everything.includes("not-a-real-token-but-secret"), "nor the invalid one");
});

t.test("no password, token or homeserver credential from login, refresh and logout is logged", async (t) => {
  const gw = await startGateway(t);
  const secrets: string[] = ["wonderland", "wrong-password-7781"];

  // A refused login, then the seed and the modern forms.
  const refused = await gw.request(
    "/_matrix/client/v3/login",
    post({ type: "m.login.password", user: "alice", password: "wrong-password-7781" }),
  );
  t.equal(refused.status, 403);
  const seed = await gw.login({ prefix: "/_matrix/client/api/v1" });
  const modern = await gw.login();
  secrets.push(seed.access_token, seed.refresh_token, modern.access_token, modern.refresh_token);
  secrets.push(...gw.homeserver.tokens.keys()); // the homeserver's own tokens for both sessions
  t.equal(gw.homeserver.tokens.size, 2);

  const refreshed = await gw.request("/_matrix/client/v3/refresh", post({ refresh_token: modern.refresh_token }));
  t.equal(refreshed.status, 200);
  secrets.push(refreshed.body.access_token, refreshed.body.refresh_token);
  // Reuse past the grace: theft, which logs a warning naming the session — not the token.
  gw.clock.advance(31_000);
  const theft = await gw.request("/_matrix/client/v3/refresh", post({ refresh_token: modern.refresh_token }));
  t.equal(theft.status, 401);
  // The seed form with the token in the query string, then logout.
  t.equal((await gw.request(`/_matrix/client/api/v1/account/whoami?access_token=${seed.access_token}`)).status, 200);
  t.equal((await gw.request("/_matrix/client/api/v1/logout", { method: "POST", headers: bearer(seed.access_token) })).status, 200);

  await settle(gw, 7);
  t.ok(
    gw.logs.some((line) => line.event === "refresh_token_reuse"),
    "the theft was logged",
  );
  t.ok(
    gw.logs.some((line) => line.event === "login"),
    "logins were logged",
  );
  const everything = JSON.stringify(gw.logs);
  for (const secret of secrets) {
    t.ok(secret.length >= 8, "a real secret to look for");
    t.notOk(everything.includes(secret), `not in the log: ${secret.slice(0, 10)}…`);
  }
});

t.test("X-Request-Id: a well-formed one is kept end to end, any other is replaced", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();

  const kept = await gw.request(WHOAMI, { headers: { ...bearer(login.access_token), "X-Request-Id": "abc-123" } });
  t.equal(kept.status, 200);
  t.equal(kept.headers.get("x-request-id"), "abc-123", "echoed to the client");
  const upstreamKept = gw.homeserver.received.at(-1);
  t.equal(upstreamKept?.headers["x-request-id"], "abc-123", "passed to the homeserver");

  const replaced = await gw.request(WHOAMI, { headers: { ...bearer(login.access_token), "X-Request-Id": "bad id with spaces" } });
  t.equal(replaced.status, 200);
  const id = replaced.headers.get("x-request-id") ?? "";
  t.match(id, UUID, "a fresh UUID instead");
  t.equal(gw.homeserver.received.at(-1)?.headers["x-request-id"], id, "the homeserver sees the same new id");

  // Answers the gateway makes itself carry one too, errors included.
  const own = await gw.request(WHOAMI, { headers: { "X-Request-Id": "own-answer.1" } });
  t.equal(own.status, 401);
  t.equal(own.headers.get("x-request-id"), "own-answer.1");
  const fresh = await gw.request("/health");
  t.match(fresh.headers.get("x-request-id"), UUID);

  const lines = await settle(gw, 5);
  t.same(
    lines.slice(1).map((line) => line.request_id),
    ["abc-123", id, "own-answer.1", fresh.headers.get("x-request-id")],
    "the log line carries the id the client saw",
  );
  t.notOk(JSON.stringify(gw.logs).includes("bad id with spaces"));
});

t.test("/health and /ready with a live homeserver", async (t) => {
  const gw = await startGateway(t);
  const health = await gw.request("/health");
  t.equal(health.status, 200);
  t.same(health.body, { status: "ok" });
  const ready = await gw.request("/ready");
  t.equal(ready.status, 200);
  t.same(ready.body, { status: "ready", store: "ok", upstream: "ok" });
  t.ok(
    gw.homeserver.received.some((r) => r.url === "/_matrix/client/versions"),
    "readiness asked the homeserver",
  );
});

t.test("/ready is 503 when the homeserver is down; /health stays 200", async (t) => {
  const homeserver = await startFakeHomeserver();
  const gw = await startGateway(t, { homeserver });
  await homeserver.close();
  const ready = await gw.request("/ready");
  t.equal(ready.status, 503);
  t.same(ready.body, {
    status: "not ready",
    store: "ok",
    upstream: "failing",
    reason: "the homeserver did not answer /_matrix/client/versions",
  });
  const health = await gw.request("/health");
  t.equal(health.status, 200);
  t.same(health.body, { status: "ok" });
});
