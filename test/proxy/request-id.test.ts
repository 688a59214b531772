/**
 * `X-Request-Id` on every answer (docs/operations.md, "Logs"): since issue 8 the router no longer sets it up front.
 * It is set by the router for the gateway's own endpoints and preflights, by `fail()` for errors, by
 * the forwarder for its own errors (413, 502, 504, the session-ending 401) and, in one object with the
 * upstream's headers, for relayed answers — where an upstream `X-Request-Id` is dropped. Each answer
 * must carry exactly one such line, with the id the homeserver was sent (when it was sent one).
 */

import t, { type Test } from "tap";
import { GENERATED_REQUEST_ID } from "../../src/http/request-id.js";
import type { ReceivedRequest } from "../helpers/fake-homeserver.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import { headerLines, type RawReply, type RawRequest, rawRequest } from "../helpers/raw-reply.js";
import { LOOSE, startLimited } from "../ratelimit/limits.js";

const V3 = "/_matrix/client/v3";
const WHOAMI = `${V3}/account/whoami`;
const UUID = GENERATED_REQUEST_ID; // a fresh id of the gateway's own
const MiB = 1024 * 1024;
const CORS = "access-control-allow-origin";

interface Case {
  name: string;
  request: RawRequest;
  status: number;
  body: unknown;
  /** Whether the request reaches the homeserver (then it must have been sent the same id). */
  forwarded: boolean;
}

/** The one X-Request-Id line of `reply`; fails the test when there are none or several. */
function theRequestId(t: Test, reply: RawReply, name: string): string | undefined {
  const lines = headerLines(reply, "x-request-id");
  t.equal(lines.length, 1, `${name}: exactly one X-Request-Id line (got ${JSON.stringify(lines)})`);
  return lines[0];
}

/**
 * Sends `request` twice, with a well-formed client id (kept) and without one (a fresh UUID); checks
 * status, exact body, one X-Request-Id with the expected value, and what the homeserver received.
 */
async function check(t: Test, gw: TestGateway, { name, request, status, body, forwarded }: Case): Promise<void> {
  for (const clientId of [`rid-${name.replace(/\W+/g, "-").slice(0, 40)}`, undefined]) {
    const label = `${name} (${clientId ? "client id" : "no client id"})`;
    const mark = gw.homeserver.received.length;
    const extra = clientId ? { "X-Request-Id": clientId } : {};
    const headers = Array.isArray(request.headers)
      ? [...request.headers, ...Object.entries(extra).flat()]
      : { ...request.headers, ...extra };
    const reply = await rawRequest(gw, { ...request, headers });
    t.equal(reply.status, status, `${label}: status`);
    t.same(reply.body, body, `${label}: body`);
    const id = theRequestId(t, reply, label);
    if (clientId) t.equal(id, clientId, `${label}: the client's id is kept`);
    else t.match(id, UUID, `${label}: a fresh UUID`);
    const received: ReceivedRequest[] = gw.homeserver.received.slice(mark);
    if (forwarded) {
      t.equal(received.length, 1, `${label}: forwarded once`);
      t.same(headerLines(received[0] as ReceivedRequest, "x-request-id"), [id], `${label}: the homeserver was sent the same id`);
    } else {
      t.same(received, [], `${label}: not forwarded`);
    }
  }
}

/** Logs alice in; the JWT and the upstream token the homeserver issued for it. */
async function session(gw: TestGateway) {
  const before = new Set(gw.homeserver.tokens.keys());
  const login = await gw.login();
  const upstream = [...gw.homeserver.tokens.keys()].find((token) => !before.has(token)) as string;
  return { jwt: login.access_token as string, deviceId: login.device_id as string, upstream };
}

/** Answers the homeserver gives and the forwarder relays: streamed (200s) and buffered (a 401 to the session's credential that is not a token rejection). */
function relayedCases(jwt: string, deviceId: string): Case[] {
  return [
    {
      name: "relayed 200",
      request: { path: WHOAMI, headers: bearer(jwt) },
      status: 200,
      body: { user_id: "@alice:example.org", device_id: deviceId },
      forwarded: true,
    },
    {
      name: "relayed public 200",
      request: { path: "/_matrix/client/versions" },
      status: 200,
      body: { versions: ["r0.6.1", "v1.1", "v1.11"] },
      forwarded: true,
    },
    {
      // relayed from a buffered body (a 401 to the session's credential that is not a token rejection)
      name: "relayed user-interactive 401",
      request: { method: "DELETE", path: `${V3}/devices/XYZ`, headers: bearer(jwt), body: "{}" },
      status: 401,
      body: { flows: [{ stages: ["m.login.password"] }], params: {}, session: "uia-session" },
      forwarded: true,
    },
  ];
}

t.test("relayed answers, own endpoints and the router's errors: one X-Request-Id each", async (t) => {
  const gw = await startGateway(t, { yaml: "passthrough_prefixes: [/_matrix/federation/]" });
  const { jwt, deviceId } = await session(gw);
  // The gateway reads the homeserver's login flows once (a minute's cache): before the cases, which count requests.
  await gw.request(`${V3}/login`);
  const cases: Case[] = [
    // (a) relayed by the forwarder
    ...relayedCases(jwt, deviceId),
    {
      name: "relayed passthrough 200",
      request: { path: "/_matrix/federation/v1/version", headers: { Authorization: "X-Matrix origin=o" } },
      status: 200,
      body: { federation: true, authorization: "X-Matrix origin=o" },
      forwarded: true,
    },
    {
      name: "relayed homeserver 401 on a public endpoint",
      request: { method: "POST", path: `${V3}/register/email/requestToken`, body: "{}" },
      status: 401,
      body: { errcode: "M_MISSING_TOKEN", error: "Missing access token" },
      forwarded: true,
    },
    // (d) the forwarder's own 413
    {
      name: "413 by Content-Length",
      request: {
        method: "PUT",
        path: `${V3}/rooms/%21r%3Aexample.org/send/m.room.message/t1`,
        headers: { ...bearer(jwt), "Content-Type": "application/json" },
        body: Buffer.alloc(MiB + 1, "a"),
      },
      status: 413,
      body: { errcode: "M_TOO_LARGE", error: "Request body too large" },
      forwarded: false,
    },
    // (e) thrown by the proxied route, answered by fail()
    {
      name: "401 M_MISSING_TOKEN",
      request: { path: WHOAMI },
      status: 401,
      body: { errcode: "M_MISSING_TOKEN", error: "Missing access token" },
      forwarded: false,
    },
    {
      name: "401 M_UNKNOWN_TOKEN",
      request: { path: WHOAMI, headers: bearer("not-a-token") },
      status: 401,
      body: { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false },
      forwarded: false,
    },
    // (f) the router's own refusals
    {
      name: "404 M_UNRECOGNIZED",
      request: { path: "/_synapse/admin/v1/users" },
      status: 404,
      body: { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" },
      forwarded: false,
    },
    {
      name: "400 non-canonical path",
      request: { path: `${V3}/../v3/account/whoami`, headers: bearer(jwt) },
      status: 400,
      body: { errcode: "M_UNRECOGNIZED", error: "Request path is not in canonical form" },
      forwarded: false,
    },
    {
      name: "405 on an own endpoint",
      request: { path: `${V3}/refresh` },
      status: 405,
      body: { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" },
      forwarded: false,
    },
    // (g) own endpoints and preflights
    { name: "preflight on a proxied path", request: { method: "OPTIONS", path: WHOAMI }, status: 204, body: "", forwarded: false },
    { name: "preflight on an own endpoint", request: { method: "OPTIONS", path: `${V3}/login` }, status: 204, body: "", forwarded: false },
    { name: "GET /health", request: { path: "/health" }, status: 200, body: { status: "ok" }, forwarded: false },
    {
      name: "GET /login",
      request: { path: `${V3}/login` },
      status: 200,
      body: { flows: [{ type: "m.login.password" }] },
      forwarded: false,
    },
  ];
  for (const c of cases) await check(t, gw, c);
});

t.test("an X-Request-Id the homeserver sends is dropped: the client sees only the gateway's", async (t) => {
  const gw = await startGateway(t);
  const { jwt, deviceId, upstream } = await session(gw);
  gw.homeserver.setResponseHeaders({ "X-Request-Id": "chosen-by-the-homeserver", "X-Upstream-Kept": "yes" });
  const relayed = relayedCases(jwt, deviceId);
  for (const c of relayed) await check(t, gw, c);
  const reply = await rawRequest(gw, { path: WHOAMI, headers: bearer(jwt) });
  t.same(headerLines(reply, "x-upstream-kept"), ["yes"], "the homeserver's other headers are relayed");

  // Other spellings and several lines: an object key of another case would not be overwritten by the
  // gateway's `X-Request-Id`, so each must be dropped by name, case-insensitively.
  const spellings: Record<string, string | string[]>[] = [
    { "x-request-id": "lower-case-upstream" },
    { "X-REQUEST-ID": "upper-case-upstream" },
    { "X-Request-Id": ["upstream-1", "upstream-2"] },
    { "x-request-id": ["upstream-1", "upstream-2"] },
  ];
  for (const upstreamIds of spellings) {
    gw.homeserver.setResponseHeaders(upstreamIds);
    const reply = await rawRequest(gw, { path: WHOAMI, headers: { ...bearer(jwt), "X-Request-Id": "mine" } });
    t.equal(reply.status, 200);
    t.same(headerLines(reply, "x-request-id"), ["mine"], `only the gateway's, not ${JSON.stringify(upstreamIds)}`);
    const uia = await rawRequest(gw, {
      method: "DELETE",
      path: `${V3}/devices/XYZ`,
      headers: { ...bearer(jwt), "X-Request-Id": "mine" },
      body: "{}",
    });
    t.equal(uia.status, 401);
    t.same(headerLines(uia, "x-request-id"), ["mine"], `buffered 401: only the gateway's, not ${JSON.stringify(upstreamIds)}`);
  }

  // The homeserver rejects the session's credential: the forwarder answers itself, with the gateway's id.
  gw.homeserver.setResponseHeaders({ "x-request-id": "chosen-by-the-homeserver" });
  gw.homeserver.revokeToken(upstream);
  const mark = gw.homeserver.received.length;
  const rejected = await rawRequest(gw, { path: WHOAMI, headers: { ...bearer(jwt), "X-Request-Id": "ended-1" } });
  t.equal(rejected.status, 401);
  t.same(rejected.body, { errcode: "M_UNKNOWN_TOKEN", error: "Unknown access token", soft_logout: false });
  t.same(headerLines(rejected, "x-request-id"), ["ended-1"], "the gateway's id only");
  t.same(
    gw.homeserver.received.slice(mark).map((r) => headerLines(r, "x-request-id")),
    [["ended-1"]],
    "the homeserver was sent the same id",
  );
});

t.test("the forwarder's own 502 and 504 carry the request id", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);

  // 504: the homeserver answers after the upstream timeout (2 s in the test config).
  gw.homeserver.setDelay(2500);
  await check(t, gw, {
    name: "504 upstream timeout",
    request: { path: `${V3}/joined_rooms`, headers: bearer(jwt) },
    status: 504,
    body: { errcode: "M_UNKNOWN", error: "The homeserver did not answer in time" },
    forwarded: true, // it reached the homeserver, which was too slow
  });
  gw.homeserver.setDelay(0);

  // 502: nothing listens at the upstream address any more.
  await gw.homeserver.close();
  const unreachable = { errcode: "M_UNKNOWN", error: "The homeserver is unreachable" };
  for (const [name, request] of [
    ["502 authenticated", { path: WHOAMI, headers: bearer(jwt) }],
    ["502 public", { path: "/_matrix/client/versions" }],
  ] as const) {
    for (const clientId of ["rid-502", undefined]) {
      const reply = await rawRequest(gw, {
        ...request,
        headers: { ...request.headers, ...(clientId ? { "X-Request-Id": clientId } : {}) },
      });
      t.equal(reply.status, 502, name);
      t.same(reply.body, unreachable, name);
      t.same(headerLines(reply, CORS), ["*"], `${name}: a gateway error, with CORS`);
      const id = theRequestId(t, reply, name);
      if (clientId) t.equal(id, clientId);
      else t.match(id, UUID);
    }
  }
});

t.test("with rate limits on: RateLimit-* and one X-Request-Id on a relayed answer; 429 carries the id", async (t) => {
  const gw = await startLimited(t, {
    registration: { per_address: LOOSE },
    public: { per_address: LOOSE },
    per_user: { points: 1, duration: "1m" },
  });
  const { jwt, deviceId } = await session(gw);
  const relayed = await rawRequest(gw, { path: WHOAMI, headers: { ...bearer(jwt), "X-Request-Id": "limited-1" } });
  t.equal(relayed.status, 200);
  t.same(relayed.body, { user_id: "@alice:example.org", device_id: deviceId });
  // The RateLimit-* fields were set on the response before the relay merged the upstream's headers in.
  t.same(headerLines(relayed, "ratelimit-limit"), ["1"], "RateLimit-Limit kept");
  t.same(headerLines(relayed, "x-request-id"), ["limited-1"]);
  t.equal(gw.homeserver.received.at(-1)?.headers["x-request-id"], "limited-1");

  const mark = gw.homeserver.received.length;
  const limited = await rawRequest(gw, { path: WHOAMI, headers: { ...bearer(jwt), "X-Request-Id": "limited-2" } });
  t.equal(limited.status, 429);
  t.match(limited.body, { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: Number });
  t.same(headerLines(limited, "x-request-id"), ["limited-2"]);
  t.same(gw.homeserver.received.slice(mark), [], "refused before the homeserver");
});

t.test("fresh request ids are unique: a per-process prefix and a counter", async (t) => {
  const { newRequestId } = await import("../../src/http/request-id.js");
  const ids = new Set<string>();
  for (let i = 0; i < 100_000; i++) ids.add(newRequestId());
  t.equal(ids.size, 100_000, "100,000 ids, no repeat");
  const [first] = ids;
  t.match(first, GENERATED_REQUEST_ID);
});

t.test("with rate limits on: the homeserver's own RateLimit-* lines, in any case, give way to the gateway's", async (t) => {
  const gw = await startLimited(t, {
    registration: { per_address: LOOSE },
    public: { per_address: LOOSE },
    per_user: { points: 5, duration: "1m" },
  });
  const { jwt } = await session(gw);
  gw.homeserver.setResponseHeaders({
    "RateLimit-Limit": "999",
    "ratelimit-remaining": "998",
    "RATELIMIT-RESET": "7",
    "RateLimit-Policy": "999;w=60",
  });
  const relayed = await rawRequest(gw, { path: WHOAMI, headers: bearer(jwt) });
  t.equal(relayed.status, 200);
  t.same(headerLines(relayed, "ratelimit-limit"), ["5"], "RateLimit-Limit: the gateway's alone");
  t.same(headerLines(relayed, "ratelimit-remaining"), ["4"], "RateLimit-Remaining: the gateway's alone");
  t.same(headerLines(relayed, "ratelimit-reset"), ["60"], "RateLimit-Reset: the gateway's alone");
  t.same(headerLines(relayed, "ratelimit-policy"), ["999;w=60"], "a field the gateway does not set passes");
});
