/**
 * Request smuggling and raw path tricks (security.md, "HTTP and proxying"), sent as raw bytes over
 * net.connect because fetch and node:http refuse to write such requests. Each hostile request is
 * refused with a 400, and the fake homeserver never receives an unauthenticated request to a
 * protected endpoint — the smuggled request inside each body is `GET …/account/whoami` without a token.
 */
import net from "node:net";
import t, { type Test } from "tap";
import { compileEndpoints } from "../../src/proxy/endpoint-pattern.js";
import type { FakeHomeserver } from "../helpers/fake-homeserver.js";
import { startGateway } from "../helpers/gateway.js";

const COLLECT_TIMEOUT_MS = 2000;
const MALFORMED = { errcode: "M_UNKNOWN", error: "Malformed HTTP request" };
const BAD_PATH = { errcode: "M_UNRECOGNIZED", error: "Request path is not in canonical form" };

/** Writes `bytes`, then collects everything the gateway sends until it closes the socket or 2 s pass. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes, "latin1"));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const timer = setTimeout(done, COLLECT_TIMEOUT_MS);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", done);
    socket.on("error", done);
  });
}

/** The first response in `raw`, and how many responses `raw` holds. */
function parseResponse(raw: string) {
  const count = raw.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0;
  const end = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = raw.slice(0, end === -1 ? raw.length : end).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = Number(headers.get("content-length") ?? 0);
  const text = end === -1 ? "" : raw.slice(end + 4, end + 4 + length);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body, count };
}

const PUBLIC = "POST /_matrix/client/v3/register HTTP/1.1\r\nHost: example.org\r\n";
/** The request a desync would deliver to the homeserver: protected, and without a token. */
const SMUGGLED = "GET /_matrix/client/v3/account/whoami HTTP/1.1\r\nHost: example.org\r\n\r\n";
const SMUGGLED_CHUNK = `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;

const smuggling: [string, string][] = [
  ["CL.TE", `${PUBLIC}Content-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ["TE.CL", `${PUBLIC}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${SMUGGLED_CHUNK}`],
  ["TE.TE (chunked, then x)", `${PUBLIC}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  [
    "TE.TE (x, then chunked) with CL",
    `${PUBLIC}Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  ["duplicate Content-Length, different values", `${PUBLIC}Content-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ["duplicate Content-Length, same value", `${PUBLIC}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}${SMUGGLED}`],
  ["Content-Length list", `${PUBLIC}Content-Length: 2, ${2 + SMUGGLED.length}\r\n\r\n{}${SMUGGLED}`],
  ["' chunked' (extra leading space) with CL", `${PUBLIC}Transfer-Encoding:  chunked\r\nContent-Length: 4\r\n\r\n${SMUGGLED_CHUNK}`],
  ["'chunked ' (trailing space) with CL", `${PUBLIC}Transfer-Encoding: chunked \r\nContent-Length: 4\r\n\r\n${SMUGGLED_CHUNK}`],
  ["'\\tchunked' with CL", `${PUBLIC}Transfer-Encoding:\tchunked\r\nContent-Length: 4\r\n\r\n${SMUGGLED_CHUNK}`],
  ["xchunked", `${PUBLIC}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ["xchunked with CL", `${PUBLIC}Transfer-Encoding: xchunked\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ["chunked, identity", `${PUBLIC}Transfer-Encoding: chunked, identity\r\n\r\n${SMUGGLED_CHUNK}`],
  ["space before the colon", `${PUBLIC}Transfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n${SMUGGLED_CHUNK}`],
  ["obs-fold continuation", `${PUBLIC}Transfer-Encoding: x\r\n chunked\r\n\r\n${SMUGGLED_CHUNK}`],
  ["bare LF line endings", `${PUBLIC.replace(/\r\n/g, "\n")}Content-Length: 0\n\n${SMUGGLED}`],
  ["CR inside a header value", `${PUBLIC}X-A: a\rb\r\nContent-Length: 0\r\n\r\n${SMUGGLED}`],
  ["NUL inside a header value", `${PUBLIC}X-A: a\u0000b\r\nContent-Length: 0\r\n\r\n${SMUGGLED}`],
  ["chunk size overflow", `${PUBLIC}Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n${SMUGGLED}\r\n0\r\n\r\n`],
];

const GET_CLOSE = (target: string) => `GET ${target} HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n`;
const pathTricks: [string, string, unknown][] = [
  ["dot segments", GET_CLOSE("/_matrix/client/v3/../../_matrix/client/v3/account/whoami"), BAD_PATH],
  ["public prefix climbing out", GET_CLOSE("/_matrix/client/versions/../v3/account/whoami"), BAD_PATH],
  ["%2F", GET_CLOSE("/_matrix/client/v3/account%2Fwhoami"), BAD_PATH],
  ["%2e%2e", GET_CLOSE("/_matrix/client/v3/profile/%2e%2e/account/whoami"), BAD_PATH],
  ["backslash", GET_CLOSE("/_matrix/client/v3/profile\\..\\account/whoami"), BAD_PATH],
  ["absolute form", GET_CLOSE("http://evil/_matrix/client/v3/account/whoami"), BAD_PATH],
  ["absolute form with a public path", GET_CLOSE("http://evil/_matrix/client/versions/../v3/account/whoami"), BAD_PATH],
  ["space in the target", GET_CLOSE("/_matrix/client/v3/account/who ami"), MALFORMED],
  ["control character in the target", GET_CLOSE("/_matrix/client/v3/account/\u0001whoami"), MALFORMED],
];

/** Requests the homeserver got without a valid token to an endpoint that needs one. */
function unauthenticatedProtected(homeserver: FakeHomeserver, publicEndpoints: string[]) {
  const isPublic = compileEndpoints(publicEndpoints);
  return homeserver.received.filter((r) => r.userId === undefined && !isPublic.matches(r.method, r.url.split("?")[0] as string));
}

async function refusedAll(t: Test, port: number, cases: [string, string, unknown][]): Promise<void> {
  const raws = await Promise.all(cases.map(([, bytes]) => exchange(port, bytes)));
  cases.forEach(([name, , body], i) => {
    const reply = parseResponse(raws[i] as string);
    t.equal(reply.status, 400, `${name}: 400`);
    t.same(reply.body, body, `${name}: JSON Matrix error`);
    t.equal(reply.headers.get("content-type"), "application/json", `${name}: content-type`);
    t.equal(reply.headers.get("access-control-allow-origin"), "*", `${name}: CORS`);
    t.equal(reply.count, 1, `${name}: one response, nothing answered for a smuggled request`);
  });
}

t.test("smuggling attempts are refused; nothing reaches the homeserver", async (t) => {
  const gw = await startGateway(t);
  const port = Number(new URL(gw.url).port);
  await refusedAll(
    t,
    port,
    smuggling.map(([name, bytes]) => [name, bytes, MALFORMED]),
  );
  t.same(unauthenticatedProtected(gw.homeserver, gw.config.public_endpoints), [], "no unauthenticated request to a protected endpoint");
  t.same(gw.homeserver.received, [], "nothing was forwarded at all");
});

t.test("raw path tricks are refused; nothing reaches the homeserver", async (t) => {
  const gw = await startGateway(t);
  const port = Number(new URL(gw.url).port);
  await refusedAll(t, port, pathTricks);
  t.same(unauthenticatedProtected(gw.homeserver, gw.config.public_endpoints), [], "no unauthenticated request to a protected endpoint");
  t.same(gw.homeserver.received, [], "nothing was forwarded at all");
});

t.test("controls: well-formed raw requests work, and a pipelined request is authenticated by the gateway", async (t) => {
  const gw = await startGateway(t);
  const port = Number(new URL(gw.url).port);

  const versions = parseResponse(await exchange(port, GET_CLOSE("/_matrix/client/versions")));
  t.equal(versions.status, 200, "the raw helper speaks HTTP");
  t.same(versions.body, { versions: ["r0.6.1", "v1.1", "v1.11"] });

  // A legitimate chunked POST to a public endpoint is forwarded with its body.
  const chunked = parseResponse(
    await exchange(
      port,
      `${PUBLIC}Transfer-Encoding: chunked\r\nConnection: close\r\nContent-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    ),
  );
  t.equal(chunked.status, 401, "the fake homeserver answers register with its own 401");
  t.same(chunked.body, { errcode: "M_MISSING_TOKEN", error: "Missing access token" }, "…which came from the homeserver");
  t.same(
    gw.homeserver.received.map((r) => [r.method, r.url, r.body]),
    [
      ["GET", "/_matrix/client/versions", ""],
      ["POST", "/_matrix/client/v3/register", "{}"],
    ],
  );

  // Two pipelined requests: the second (protected, no token) is parsed and refused by the gateway itself.
  const pipelined = await exchange(
    port,
    `${PUBLIC}Content-Length: 2\r\n\r\n{}${SMUGGLED.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")}`,
  );
  t.equal(parseResponse(pipelined).count, 2, "two answers");
  t.match(pipelined, /\r\n\r\n\{"errcode":"M_MISSING_TOKEN","error":"Missing access token"\}$/, "the gateway's own 401 for the second");
  t.same(unauthenticatedProtected(gw.homeserver, gw.config.public_endpoints), [], "whoami never reached the homeserver");
  t.equal(gw.homeserver.received.length, 3, "only the public POST was added");
});
