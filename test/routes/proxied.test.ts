/**
 * "Every other request" of the contract, end to end: a real gateway in front of the fake homeserver.
 * What the homeserver received (`homeserver.received`) is the proof of what was forwarded, what was
 * swapped in, and what never got through.
 */
import crypto from "node:crypto";
import http from "node:http";
import t, { type Test } from "tap";
import type { ReceivedRequest } from "../helpers/fake-homeserver.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";

const V3 = "/_matrix/client/v3";
const WHOAMI = `${V3}/account/whoami`;
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers": "X-Requested-With, Content-Type, Authorization, Date",
};
const MISSING = { errcode: "M_MISSING_TOKEN", error: "Missing access token" };
const MIXING = { errcode: "M_MISSING_TOKEN", error: "Mixing Authorization headers and access_token query parameters." };
const INVALID = { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access token passed.", soft_logout: false };
const EXPIRED = { errcode: "M_UNKNOWN_TOKEN", error: "Access token has expired", soft_logout: true };
const BAD_PATH = { errcode: "M_UNRECOGNIZED", error: "Request path is not in canonical form" };
const UNRECOGNIZED = { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" };

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** Contract: every error the gateway makes is JSON and carries the CORS headers. */
function isGatewayError(t: Test, reply: Reply, status: number, body: unknown, name = ""): void {
  t.equal(reply.status, status, `${name} status`);
  t.same(reply.body, body, `${name} body`);
  t.equal(reply.headers.get("content-type"), "application/json", `${name} content-type`);
  for (const [header, value] of Object.entries(CORS)) t.equal(reply.headers.get(header), value, `${name} ${header}`);
}

/**
 * node:http instead of fetch where fetch would not send the request as written: raw paths (fetch
 * resolves `..`), `Connection`, chunked bodies, `Expect: 100-continue`.
 */
function httpRequest(
  gw: TestGateway,
  options: { method?: string; path: string; headers?: http.OutgoingHttpHeaders; chunks?: string[]; expectContinue?: boolean },
): Promise<Reply & { continued: boolean }> {
  return new Promise((resolve, reject) => {
    const url = new URL(gw.url);
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: options.method ?? "GET",
      path: options.path,
      headers: options.headers,
      agent: false,
    });
    let continued = false;
    const chunks = options.chunks ?? [];
    const writeBody = () => {
      for (const chunk of chunks) req.write(chunk);
      req.end();
    };
    req.on("continue", () => {
      continued = true;
      writeBody();
    });
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        const headers = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers, body, continued });
      });
    });
    req.on("error", reject);
    if (options.expectContinue) req.flushHeaders();
    else writeBody();
  });
}

/** Requests the homeserver received from `mark` on. */
const receivedSince = (gw: TestGateway, mark: number): ReceivedRequest[] => gw.homeserver.received.slice(mark);

/** Logs alice in; returns the JWT, the refresh token and the upstream token the homeserver issued for it. */
async function session(gw: TestGateway) {
  const before = new Set(gw.homeserver.tokens.keys());
  const login = await gw.login();
  const upstream = [...gw.homeserver.tokens.keys()].filter((token) => !before.has(token));
  if (upstream.length !== 1) throw new Error("expected exactly one new upstream token");
  return {
    jwt: login.access_token as string,
    refresh: login.refresh_token as string,
    upstream: upstream[0] as string,
    deviceId: login.device_id as string,
  };
}

/** The gateway's tokens appear nowhere in anything the homeserver received: url, any header, body. */
function assertNeverForwarded(t: Test, gw: TestGateway, secrets: string[]): void {
  t.ok(gw.homeserver.received.length > 0, "the homeserver received requests");
  for (const request of gw.homeserver.received) {
    const seen = [request.url, ...request.rawHeaders, request.body].join("\n");
    for (const secret of secrets)
      t.notOk(seen.includes(secret), `${request.method} ${request.url.slice(0, 60)} does not carry ${secret.slice(0, 12)}…`);
  }
}

t.test("a protected path without a token: 401 M_MISSING_TOKEN, never forwarded", async (t) => {
  const gw = await startGateway(t);
  const cases: [string, string][] = [
    ["GET", WHOAMI],
    ["GET", `${V3}/sync`],
    ["PUT", `${V3}/rooms/%21abc%3Aexample.org/send/m.room.message/txn1`],
    ["GET", "/_matrix/client/r0/account/whoami"],
    ["GET", "/_matrix/client/api/v1/events"],
    ["POST", `${V3}/publicRooms`], // only GET publicRooms is public
    ["GET", "/_matrix/client/v1/media/download/example.org/abc"],
    ["GET", `${WHOAMI}?access_token=`], // an empty token is no token
  ];
  for (const [method, path] of cases) {
    const reply = await gw.request(path, { method, body: method === "GET" ? undefined : "{}" });
    isGatewayError(t, reply, 401, MISSING, `${method} ${path}`);
  }
  t.same(gw.homeserver.received, [], "the homeserver saw nothing");
});

t.test("a bad token: 401 M_UNKNOWN_TOKEN, never forwarded", async (t) => {
  const gw = await startGateway(t);
  const { jwt, refresh } = await session(gw);
  const mark = gw.homeserver.received.length;
  const [h, p] = jwt.split(".");
  const forgedSignature = crypto.createHmac("sha256", "not-the-gateway-secret-not-the-gateway").update(`${h}.${p}`).digest("base64url");
  const tokens: [string, string][] = [
    ["garbage", "not-a-token"],
    ["signature by another key", `${h}.${p}.${forgedSignature}`],
    ["alg none", `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString("base64url")}.${p}.`],
    ["the refresh token", refresh],
  ];
  for (const [name, token] of tokens) {
    isGatewayError(t, await gw.request(WHOAMI, { headers: bearer(token) }), 401, INVALID, `${name} in the header`);
    isGatewayError(t, await gw.request(`${WHOAMI}?access_token=${encodeURIComponent(token)}`), 401, INVALID, `${name} in the query`);
  }
  t.same(receivedSince(gw, mark), [], "the homeserver saw nothing");
});

t.test("an expired token: Synapse's soft-logout answer", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const mark = gw.homeserver.received.length;
  gw.clock.advance(gw.config.tokens.access_ttl + gw.config.jwt.clock_skew + 1000);
  const reply = await gw.request(WHOAMI, { headers: bearer(jwt) });
  isGatewayError(t, reply, 401, EXPIRED);
  t.same(reply.body, { errcode: "M_UNKNOWN_TOKEN", error: "Access token has expired", soft_logout: true }, "exactly this body");
  t.same(receivedSince(gw, mark), []);
});

t.test("token in both header and query: 401 M_MISSING_TOKEN", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const mark = gw.homeserver.received.length;
  isGatewayError(t, await gw.request(`${WHOAMI}?access_token=${jwt}`, { headers: bearer(jwt) }), 401, MIXING);
  t.same(receivedSince(gw, mark), []);
});

t.test("a valid token is swapped for the upstream credential; path and query pass byte for byte", async (t) => {
  const gw = await startGateway(t);
  const { jwt, refresh, upstream, deviceId } = await session(gw);
  const path = `${V3}/rooms/%21abc%3Aexample.org/messages`;
  const query = "dir=b&limit=10&filter=%7B%7D";
  const mark = gw.homeserver.received.length;

  const viaHeader = await gw.request(`${path}?${query}`, { headers: bearer(jwt) });
  const viaQuery = await gw.request(`${path}?dir=b&access_token=${jwt}&limit=10&filter=%7B%7D`);
  const viaQueryLast = await gw.request(`${path}?${query}&access_token=${jwt}`);
  const viaQueryOnly = await gw.request(`${WHOAMI}?access_token=${jwt}`);

  for (const [name, reply] of [
    ["header", viaHeader],
    ["query", viaQuery],
    ["query last", viaQueryLast],
  ] as const) {
    t.equal(reply.status, 200, name);
    t.same(reply.body, { echo: { method: "GET", url: `${path}?${query}`, user_id: "@alice:example.org", device_id: deviceId } }, name);
  }
  t.equal(viaQueryOnly.status, 200);
  t.equal(viaQueryOnly.body.user_id, "@alice:example.org");

  const received = receivedSince(gw, mark);
  t.same(
    received.map((r) => r.url),
    [`${path}?${query}`, `${path}?${query}`, `${path}?${query}`, WHOAMI],
    "the upstream got the path and the other parameters unchanged, without access_token",
  );
  for (const request of received) {
    t.equal(request.headers.authorization, `Bearer ${upstream}`, "the upstream credential");
    t.equal(request.rawHeaders.filter((name) => name.toLowerCase() === "authorization").length, 1, "one Authorization header");
    t.equal(request.userId, "@alice:example.org");
  }
  assertNeverForwarded(t, gw, [jwt, jwt.split(".")[2] as string, refresh]);
});

t.test("client-sent identity headers are replaced by the gateway's", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const mark = gw.homeserver.received.length;
  const reply = await gw.request(WHOAMI, {
    headers: {
      ...bearer(jwt),
      "X-Forwarded-For": "6.6.6.6",
      "X-Real-IP": "6.6.6.6",
      Forwarded: "for=6.6.6.6",
      "X-Forwarded-Host": "evil.example",
    },
  });
  t.equal(reply.status, 200);
  const [request] = receivedSince(gw, mark);
  t.equal(request?.headers["x-forwarded-for"], "127.0.0.1", "overwritten, not appended");
  t.equal(request?.rawHeaders.filter((name) => name.toLowerCase() === "x-forwarded-for").length, 1);
  t.notOk(
    request?.rawHeaders.some((value) => value.includes("6.6.6.6") || value.includes("evil.example")),
    "no client-chosen identity reached upstream",
  );
});

t.test("`Connection: close, Authorization` cannot strip the upstream credential", async (t) => {
  const gw = await startGateway(t);
  const { jwt, upstream, deviceId } = await session(gw);
  const mark = gw.homeserver.received.length;
  const reply = await httpRequest(gw, { path: WHOAMI, headers: { ...bearer(jwt), Connection: "close, Authorization, X-Forwarded-For" } });
  t.equal(reply.status, 200);
  t.same(reply.body, { user_id: "@alice:example.org", device_id: deviceId });
  const [request] = receivedSince(gw, mark);
  t.equal(request?.headers.authorization, `Bearer ${upstream}`);
  t.equal(request?.headers["x-forwarded-for"], "127.0.0.1");
});

t.test("`Connection: Host` cannot replace the client's Host with the homeserver's address", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const mark = gw.homeserver.received.length;
  const reply = await httpRequest(gw, { path: WHOAMI, headers: { ...bearer(jwt), Host: "matrix.example.org", Connection: "Host" } });
  t.equal(reply.status, 200);
  t.equal(receivedSince(gw, mark)[0]?.headers.host, "matrix.example.org");
});

t.test("public endpoints: no token needed; a token that is present is checked and swapped", async (t) => {
  const gw = await startGateway(t);
  const { jwt, upstream } = await session(gw);
  const publicPaths: [string, unknown][] = [
    ["/_matrix/client/versions", { versions: ["r0.6.1", "v1.1", "v1.11"] }],
    [`${V3}/publicRooms`, { chunk: [], total_room_count_estimate: 0 }],
    ["/_matrix/client/r0/publicRooms", { chunk: [], total_room_count_estimate: 0 }],
    [`${V3}/profile/@alice:example.org`, { displayname: "Someone" }],
    [`${V3}/profile/%40alice%3Aexample.org/displayname`, { displayname: "Someone" }],
    ["/.well-known/matrix/client", { "m.homeserver": { base_url: "https://example.org" } }],
  ];
  for (const [path, body] of publicPaths) {
    let mark = gw.homeserver.received.length;
    const anonymous = await gw.request(path);
    t.equal(anonymous.status, 200, `${path} without a token`);
    t.same(anonymous.body, body);
    t.same(
      receivedSince(gw, mark).map((r) => [r.url, r.headers.authorization]),
      [[path, undefined]],
      "forwarded without credential",
    );

    mark = gw.homeserver.received.length;
    isGatewayError(t, await gw.request(path, { headers: bearer("bad.token.here") }), 401, INVALID, `${path} with a bad token`);
    isGatewayError(t, await gw.request(`${path}?access_token=garbage`), 401, INVALID, `${path} with a bad query token`);
    t.same(receivedSince(gw, mark), [], "a bad token is not forwarded, even to a public endpoint");

    mark = gw.homeserver.received.length;
    const authenticated = await gw.request(path, { headers: bearer(jwt) });
    t.equal(authenticated.status, 200, `${path} with a good token`);
    t.same(
      receivedSince(gw, mark).map((r) => [r.url, r.headers.authorization]),
      [[path, `Bearer ${upstream}`]],
      "the good token is swapped",
    );
  }
  assertNeverForwarded(t, gw, [jwt]);
});

t.test("OPTIONS preflight on a protected path: 204 with CORS and no body (as Synapse), answered by the gateway", async (t) => {
  const gw = await startGateway(t);
  for (const path of [WHOAMI, `${V3}/rooms/%21abc%3Aexample.org/send/m.room.message/t1`, `${V3}/login`, "/_matrix/media/v3/upload"]) {
    const reply = await gw.request(path, {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.element.io",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization",
      },
    });
    t.equal(reply.status, 204, path);
    t.equal(reply.body, "", `${path}: no body`);
    t.equal(reply.headers.get("content-length"), "0", `${path}: Content-Length: 0`);
    t.equal(reply.headers.get("content-type"), null, `${path}: no Content-Type`);
    for (const [header, value] of Object.entries(CORS)) t.equal(reply.headers.get(header), value, `${path} ${header}`);
  }
  t.same(gw.homeserver.received, [], "the homeserver saw nothing");
});

t.test("a path outside the namespaces: 404 M_UNRECOGNIZED, never forwarded", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const mark = gw.homeserver.received.length;
  for (const path of [
    "/",
    "/_synapse/admin/v1/users/@alice:example.org",
    "/_matrix/federation/v1/version", // not a passthrough unless the operator says so
    "/_matrix/key/v2/server",
    "/_Matrix/client/v3/account/whoami", // case changes are other paths
    "/_matrix/clientx/v3/account/whoami",
    "/_matrix/client", // the namespace is `/_matrix/client/`
  ]) {
    isGatewayError(t, await gw.request(path), 404, UNRECOGNIZED, `${path} without a token`);
    isGatewayError(t, await gw.request(path, { headers: bearer(jwt) }), 404, UNRECOGNIZED, `${path} with a token`);
  }
  t.same(receivedSince(gw, mark), []);
});

t.test("passthrough prefixes forward the client's own Authorization untouched", async (t) => {
  const gw = await startGateway(t, { yaml: "passthrough_prefixes: [/_matrix/federation/]" });
  const xMatrix = 'X-Matrix origin="other.org",destination="example.org",key="ed25519:a1",sig="c2lnbmF0dXJl"';
  const reply = await gw.request("/_matrix/federation/v1/version?x=%7B%7D", { headers: { Authorization: xMatrix } });
  t.equal(reply.status, 200);
  t.same(reply.body, { federation: true, authorization: xMatrix });
  t.same(
    gw.homeserver.received.map((r) => [r.method, r.url, r.headers.authorization]),
    [["GET", "/_matrix/federation/v1/version?x=%7B%7D", xMatrix]],
  );
  // Only the listed prefix passes; a trick on it is still refused.
  isGatewayError(t, await gw.request("/_matrix/key/v2/server"), 404, UNRECOGNIZED);
  isGatewayError(
    t,
    await httpRequest(gw, { path: "/_matrix/federation/../client/v3/account/whoami", headers: { Authorization: xMatrix } }),
    400,
    BAD_PATH,
  );
  t.equal(gw.homeserver.received.length, 1, "nothing else was forwarded");
});

t.test("path tricks: 400, never forwarded", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const mark = gw.homeserver.received.length;
  const paths = [
    `${V3}/../v3/account/whoami`,
    "/_matrix/client/versions/../v3/account/whoami", // a public prefix climbing into a protected one
    `${V3}/profile/../account/whoami`,
    `${V3}/./account/whoami`,
    `${V3}/account/whoami/..`,
    `${V3}/account%2Fwhoami`,
    `${V3}/profile/..%2F..%2Faccount%2Fwhoami`,
    `${V3}/%2e%2e/v3/account/whoami`,
    `${V3}/profile/%252e%252e/account/whoami`,
    `${V3}/account%5Cwhoami`,
    `${V3}/account\\whoami`,
    `/_matrix/client//v3/account/whoami`,
    `${V3}/account/whoami;x=1`,
    `${V3}/account/whoami%00`,
    `${V3}/rooms/%zz/messages`,
  ];
  for (const path of paths) {
    isGatewayError(t, await httpRequest(gw, { path }), 400, BAD_PATH, `${path} without a token`);
    isGatewayError(t, await httpRequest(gw, { path, headers: bearer(jwt) }), 400, BAD_PATH, `${path} with a token`);
  }
  t.same(receivedSince(gw, mark), [], "nothing forwarded");
});

t.test("upstream rejects the session's credential: the session dies, soft_logout false", async (t) => {
  const gw = await startGateway(t);
  const doomed = await session(gw);
  const other = await session(gw);

  gw.homeserver.revokeToken(doomed.upstream); // as deleting the device upstream would
  const rejected = await gw.request(WHOAMI, { headers: bearer(doomed.jwt) });
  isGatewayError(t, rejected, 401, { errcode: "M_UNKNOWN_TOKEN", error: "Unknown access token", soft_logout: false });

  const refreshed = await gw.request(`${V3}/refresh`, { method: "POST", body: JSON.stringify({ refresh_token: doomed.refresh }) });
  isGatewayError(t, refreshed, 401, { errcode: "M_UNKNOWN_TOKEN", error: "Invalid refresh token", soft_logout: true }, "refresh");

  const mark = gw.homeserver.received.length;
  isGatewayError(t, await gw.request(WHOAMI, { headers: bearer(doomed.jwt) }), 401, INVALID, "the access token afterwards");
  t.same(receivedSince(gw, mark), [], "refused without reaching upstream");

  // Only that session ended.
  const alive = await gw.request(WHOAMI, { headers: bearer(other.jwt) });
  t.equal(alive.status, 200, "another session of the same user still works");
  t.equal(alive.body.user_id, "@alice:example.org");
});

t.test("a user-interactive-auth 401 passes through unchanged; the session stays alive", async (t) => {
  const gw = await startGateway(t);
  const { jwt, refresh, upstream } = await session(gw);
  const reply = await gw.request(`${V3}/devices/XYZ`, { method: "DELETE", headers: bearer(jwt), body: "{}" });
  t.equal(reply.status, 401);
  t.same(reply.body, { flows: [{ stages: ["m.login.password"] }], params: {}, session: "uia-session" });
  t.equal(reply.headers.get("content-type"), "application/json");
  t.equal(gw.homeserver.received.at(-1)?.headers.authorization, `Bearer ${upstream}`);

  const whoami = await gw.request(WHOAMI, { headers: bearer(jwt) });
  t.equal(whoami.status, 200);
  const refreshed = await gw.request(`${V3}/refresh`, { method: "POST", body: JSON.stringify({ refresh_token: refresh }) });
  t.equal(refreshed.status, 200, "the refresh token still works");
});

t.test("several Set-Cookie headers survive", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const reply = await gw.request(`${V3}/set-cookies`, { headers: bearer(jwt) });
  t.equal(reply.status, 200);
  t.same(reply.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
  // The gateway's own headers (its request id) are written alongside the upstream's repeated ones.
  t.match(reply.headers.get("x-request-id"), /\S/, "the gateway's own X-Request-Id is still there");
});

t.test("upstream down: 502 M_UNKNOWN JSON", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  await gw.homeserver.close();
  const unreachable = { errcode: "M_UNKNOWN", error: "The homeserver is unreachable" };
  isGatewayError(t, await gw.request(WHOAMI, { headers: bearer(jwt) }), 502, unreachable, "authenticated");
  isGatewayError(t, await gw.request("/_matrix/client/versions"), 502, unreachable, "public");
  t.equal((await gw.request("/health")).status, 200, "the gateway stays up");
});

t.test("upstream slow: 504 M_UNKNOWN JSON after the upstream timeout", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  t.equal(gw.config.upstream.timeout, 2000, "the helper's upstream timeout");
  gw.homeserver.setDelay(2500);
  const started = performance.now();
  const reply = await gw.request(WHOAMI, { headers: bearer(jwt) });
  const elapsed = performance.now() - started;
  isGatewayError(t, reply, 504, { errcode: "M_UNKNOWN", error: "The homeserver did not answer in time" });
  t.ok(elapsed >= 1900 && elapsed < 2500, `answered at the timeout (${Math.round(elapsed)} ms)`);
  gw.homeserver.setDelay(0);
  t.equal((await gw.request(WHOAMI, { headers: bearer(jwt) })).status, 200, "works again once the upstream is fast");
});

t.test("a long-poll longer than the upstream timeout is not cut short", async (t) => {
  const gw = await startGateway(t);
  const { jwt } = await session(gw);
  const started = performance.now();
  const reply = await gw.request(`${V3}/sync?since=x&timeout=3000`, { headers: bearer(jwt) });
  const elapsed = performance.now() - started;
  t.equal(reply.status, 200);
  t.match(reply.body, { next_batch: String, rooms: { join: {} } });
  t.ok(elapsed >= 2900, `the homeserver's 3 s wait was let through (${Math.round(elapsed)} ms)`);
});

t.test("request bodies: chunked and Expect: 100-continue are proxied intact", async (t) => {
  const gw = await startGateway(t);
  const { jwt, upstream, deviceId } = await session(gw);
  const path = `${V3}/user/@alice:example.org/filter`;
  const chunks = ['{"room":', '{"timeline":{"limit":10}},', '"presence":{"types":["m.présence"]}}'];
  const body = chunks.join("");

  let mark = gw.homeserver.received.length;
  const chunked = await httpRequest(gw, { method: "POST", path, headers: { ...bearer(jwt), "Content-Type": "application/json" }, chunks });
  t.equal(chunked.status, 200);
  t.same(chunked.body.echo, { method: "POST", url: path, user_id: "@alice:example.org", device_id: deviceId });
  let [request] = receivedSince(gw, mark);
  t.equal(request?.body, body, "chunked body intact");
  t.equal(request?.headers["content-type"], "application/json");
  t.equal(request?.headers.authorization, `Bearer ${upstream}`);

  mark = gw.homeserver.received.length;
  const continued = await httpRequest(gw, {
    method: "POST",
    path,
    headers: { ...bearer(jwt), "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), Expect: "100-continue" },
    chunks: [body],
    expectContinue: true,
  });
  t.ok(continued.continued, "the client got 100 Continue");
  t.equal(continued.status, 200);
  [request] = receivedSince(gw, mark);
  t.equal(request?.body, body, "100-continue body intact");
  t.equal(request?.headers["content-length"], String(Buffer.byteLength(body)));
  t.equal(request?.headers.authorization, `Bearer ${upstream}`);
  assertNeverForwarded(t, gw, [jwt]);
});
