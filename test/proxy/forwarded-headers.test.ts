/**
 * The header fields the forwarder builds (issue 8: fresh objects instead of deleting fields).
 * Request: the client's fields reach the homeserver unchanged, minus the hop-by-hop ones (RFC 9110
 * §7.6.1) and any the client names in `Connection` — except Host, which `Connection` cannot remove.
 * Response: the homeserver's fields reach the client, minus the hop-by-hop ones and any it names in
 * `Connection`. Existing tests cover the credential and X-Forwarded-For against `Connection`
 * (test/routes/proxied.test.ts) and a lone `Connection: Host`; these cover the rest.
 */
import t from "tap";
import type { ReceivedRequest } from "../helpers/fake-homeserver.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import { headerLines, rawRequest } from "../helpers/raw-reply.js";

const V3 = "/_matrix/client/v3";
const WHOAMI = `${V3}/account/whoami`;

/** Logs alice in; the JWT, her device and the upstream token the homeserver issued for it. */
async function session(gw: TestGateway) {
  const before = new Set(gw.homeserver.tokens.keys());
  const login = await gw.login();
  const upstream = [...gw.homeserver.tokens.keys()].find((token) => !before.has(token)) as string;
  return { jwt: login.access_token as string, deviceId: login.device_id as string, upstream };
}

/** Sends raw header lines to whoami and returns what the homeserver received. */
async function forwardedRequest(gw: TestGateway, jwt: string, lines: string[]): Promise<ReceivedRequest> {
  const mark = gw.homeserver.received.length;
  const reply = await rawRequest(gw, { path: WHOAMI, headers: ["Authorization", `Bearer ${jwt}`, ...lines] });
  if (reply.status !== 200) throw new Error(`whoami answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const received = gw.homeserver.received.slice(mark);
  if (received.length !== 1) throw new Error(`the homeserver received ${received.length} requests`);
  return received[0] as ReceivedRequest;
}

t.test("ordinary client headers reach the homeserver unchanged", async (t) => {
  const gw = await startGateway(t);
  const { jwt, upstream } = await session(gw);
  const request = await forwardedRequest(gw, jwt, [
    "X-Custom",
    "custom value; with=params",
    "Accept-Language",
    "fr-CH, fr;q=0.9, en;q=0.8",
    "Cookie",
    "a=1",
    "Cookie",
    "b=2; c=3",
    "User-Agent",
    "Element/1.11.0",
    "Accept",
    "application/json",
    "If-None-Match",
    '"etag-1"',
    "X-Multi",
    "one",
    "X-Multi",
    "two",
  ]);
  t.same(headerLines(request, "x-custom"), ["custom value; with=params"]);
  t.same(headerLines(request, "accept-language"), ["fr-CH, fr;q=0.9, en;q=0.8"]);
  // Node joins a request's Cookie lines with "; " when it parses them (RFC 9113 §8.2.3 style): every cookie arrives.
  t.same(headerLines(request, "cookie"), ["a=1; b=2; c=3"], "every cookie, in order");
  t.same(headerLines(request, "user-agent"), ["Element/1.11.0"]);
  t.same(headerLines(request, "accept"), ["application/json"]);
  t.same(headerLines(request, "if-none-match"), ['"etag-1"']);
  t.same(headerLines(request, "x-multi"), ["one, two"], "repeated fields, as one list");
  t.same(headerLines(request, "authorization"), [`Bearer ${upstream}`], "the credential swapped in");
  t.same(headerLines(request, "x-forwarded-for"), ["127.0.0.1"]);
  t.equal(headerLines(request, "x-request-id").length, 1);
});

t.test("field names that are Object.prototype's own are ordinary fields", async (t) => {
  const gw = await startGateway(t);
  const { jwt, upstream } = await session(gw);
  const request = await forwardedRequest(gw, jwt, [
    "constructor",
    "ctor-value",
    "toString",
    "ts-value",
    "hasOwnProperty",
    "hop-value",
    "__proto__",
    "proto-value",
  ]);
  t.same(headerLines(request, "constructor"), ["ctor-value"]);
  t.same(headerLines(request, "tostring"), ["ts-value"]);
  t.same(headerLines(request, "hasownproperty"), ["hop-value"]);
  // Node's parser drops `__proto__` from `req.headers` (an assignment to an ordinary object's
  // prototype; `headersDistinct` keeps it), so it never reaches the forwarder: harmless, and nothing else is disturbed.
  t.same(headerLines(request, "__proto__"), []);
  t.same(headerLines(request, "authorization"), [`Bearer ${upstream}`]);
  t.same(headerLines(request, "x-forwarded-for"), ["127.0.0.1"]);
});

t.test("hop-by-hop request fields and the fields Connection names stay on the client's hop", async (t) => {
  const gw = await startGateway(t);
  const { jwt, upstream } = await session(gw);
  const cases: { name: string; lines: string[]; gone: string[]; kept: [string, string][] }[] = [
    {
      name: "Connection: close, X-Secret-Hop",
      lines: ["Connection", "close, X-Secret-Hop", "X-Secret-Hop", "s", "X-Other", "o"],
      gone: ["x-secret-hop"],
      kept: [["x-other", "o"]],
    },
    {
      name: "names in any case and with spaces",
      lines: ["Connection", "keep-alive ,  x-SECRET-hop ,X-Second", "X-Secret-Hop", "s", "X-Second", "2", "X-Other", "o"],
      gone: ["x-secret-hop", "x-second"],
      kept: [["x-other", "o"]],
    },
    {
      name: "two Connection lines",
      lines: ["Connection", "keep-alive", "Connection", "X-Secret-Hop", "X-Secret-Hop", "s", "X-Other", "o"],
      gone: ["x-secret-hop"],
      kept: [["x-other", "o"]],
    },
    {
      name: "host in a list does not remove Host",
      lines: ["Host", "matrix.example.org", "Connection", "close, host, X-Secret-Hop", "X-Secret-Hop", "s"],
      gone: ["x-secret-hop"],
      kept: [["host", "matrix.example.org"]],
    },
    {
      name: "a field the client did not send",
      lines: ["Connection", "X-Absent", "X-Other", "o"],
      gone: ["x-absent"],
      kept: [["x-other", "o"]],
    },
    {
      name: "the standard hop-by-hop fields",
      lines: [
        "Keep-Alive",
        "timeout=5",
        "Proxy-Connection",
        "keep-alive",
        "Proxy-Authorization",
        "Basic cHJveHk6c2VjcmV0",
        "TE",
        "trailers",
        "X-Other",
        "o",
      ],
      gone: ["keep-alive", "proxy-connection", "proxy-authorization", "te"],
      kept: [["x-other", "o"]],
    },
  ];
  for (const { name, lines, gone, kept } of cases) {
    const request = await forwardedRequest(gw, jwt, lines);
    for (const field of gone) t.same(headerLines(request, field), [], `${name}: no ${field} upstream`);
    for (const [field, value] of kept) t.same(headerLines(request, field), [value], `${name}: ${field} kept`);
    t.same(headerLines(request, "authorization"), [`Bearer ${upstream}`], `${name}: the credential`);
    t.notOk(
      headerLines(request, "connection").some((value) => /secret|second|absent|host/i.test(value)),
      `${name}: the client's Connection list is not forwarded`,
    );
  }
});

t.test("a response's Connection-named fields are not relayed to the client", async (t) => {
  const gw = await startGateway(t);
  const { jwt, deviceId } = await session(gw);
  gw.homeserver.setResponseHeaders({
    Connection: "X-Upstream-Hop, x-second-hop",
    "X-Upstream-Hop": "hop-secret",
    "X-Second-Hop": "2",
    "X-Upstream-Kept": "kept",
  });
  const cases = [
    {
      name: "relayed as it streams",
      method: "GET",
      path: WHOAMI,
      status: 200,
      body: { user_id: "@alice:example.org", device_id: deviceId },
    },
    {
      name: "relayed from a buffered 401",
      method: "DELETE",
      path: `${V3}/devices/XYZ`,
      status: 401,
      body: { flows: [{ stages: ["m.login.password"] }], params: {}, session: "uia-session" },
    },
    {
      name: "relayed public answer",
      method: "GET",
      path: "/_matrix/client/versions",
      status: 200,
      body: { versions: ["r0.6.1", "v1.1", "v1.11"] },
    },
  ];
  for (const { name, method, path, status, body } of cases) {
    const reply = await rawRequest(gw, { method, path, headers: bearer(jwt), body: method === "DELETE" ? "{}" : undefined });
    t.equal(reply.status, status, name);
    t.same(reply.body, body, name);
    t.same(headerLines(reply, "x-upstream-hop"), [], `${name}: X-Upstream-Hop not relayed`);
    t.same(headerLines(reply, "x-second-hop"), [], `${name}: X-Second-Hop not relayed`);
    t.same(headerLines(reply, "x-upstream-kept"), ["kept"], `${name}: other fields relayed`);
    t.notOk(
      headerLines(reply, "connection").some((value) => /hop/i.test(value)),
      `${name}: the homeserver's Connection list is not relayed`,
    );
    t.same(headerLines(reply, "content-type"), ["application/json"], `${name}: one Content-Type`);
  }
});
