/**
 * security.md, "HTTP and proxying": every box is a named passing test, here or in the file named next to it.
 *
 * - [x] request smuggling: CL.TE, TE.CL, TE.TE, duplicate `Content-Length`, obfuscated `chunked` — never `insecureHTTPParser`
 *       → test/routes/smuggling.test.ts "smuggling attempts are refused; nothing reaches the homeserver",
 *         "controls: well-formed raw requests work, …"; the parser setting: "the strict HTTP parser is on" below
 * - [x] path tricks cannot reach a protected endpoint without a token (`..`, `%2e%2e`, `%2F`, `%252F`, `//`, `;param`, `\`)
 *       → test/routes/proxied.test.ts "path tricks: 400, never forwarded"; test/routes/smuggling.test.ts "raw path tricks are
 *         refused; …"; test/proxy/canonical-path.test.ts "refused paths"; case changes and trailing dots:
 *         "case changes and trailing dots never turn a protected path public" below (and proxied.test.ts
 *         "a path outside the namespaces: 404 M_UNRECOGNIZED, never forwarded" for `/_Matrix/…`); escapes that are not
 *         UTF-8: "overlong and invalid UTF-8 escapes are refused …" below
 * - [x] the upstream receives exactly the path that was checked (`toProxy: true`)
 *       → test/routes/proxied.test.ts "a valid token is swapped for the upstream credential; path and query pass byte for byte"
 * - [x] hop-by-hop abuse: `Connection: close, Authorization` must not strip the credential the gateway sets
 *       → test/routes/proxied.test.ts "`Connection: close, Authorization` cannot strip the upstream credential"
 * - [x] client-sent identity headers the gateway uses upstream are overwritten, never appended
 *       → test/routes/proxied.test.ts "client-sent identity headers are replaced by the gateway's"
 * - [x] `X-Forwarded-For` is trusted only from configured proxies; the key is the right-most untrusted hop
 *       → test/http/client-address.test.ts "clientAddress", "through the gateway"
 * - [x] (the contract's "the gateway's JWT never reaches the upstream", on the gateway's own register call)
 *       → "register: a token in the query string never reaches the homeserver" below
 * - [x] CR/LF in any value copied into an upstream header → "CR/LF never reaches an upstream header" below
 *       (raw CR in a header: test/routes/smuggling.test.ts "CR inside a header value" row)
 * - [x] slowloris and slow bodies: header and request timeouts set on purpose; oversized bodies → 413 JSON
 *       → "timeouts set on purpose (…)" › "slowloris: …" and "a slow body …", "body limits: …" below; own endpoints:
 *         test/routes/login.test.ts "PREFIX/login › body over 64KiB → 413 M_TOO_LARGE"; malformed bytes after a request:
 *         "bytes after a request never corrupt its response" below
 * - [x] long-poll `/sync?timeout=30000` outlives every proxy timeout
 *       → test/routes/proxied.test.ts "a long-poll longer than the upstream timeout is not cut short";
 *         test/operations/signals.test.ts "SIGTERM while a long-poll is in flight: the sync completes, then exit 0"
 * - [x] access tokens in query strings never reach a log line
 *       → test/operations/request-log.test.ts "a token in the query string never reaches the log";
 *         test/security/no-secrets-in-logs.test.ts (every token of a whole flow, encoded parameter names included)
 */
import http from "node:http";
import net from "node:net";
import t from "tap";
import { GENERATED_REQUEST_ID } from "../../src/http/request-id.js";
import { newRequestInfo } from "../../src/http/request-info.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import { expectError } from "../helpers/session-api.js";

const V3 = "/_matrix/client/v3";
const WHOAMI = `${V3}/account/whoami`;
const MiB = 1024 * 1024;
const UUID = GENERATED_REQUEST_ID; // a fresh id of the gateway's own

const portOf = (gw: TestGateway) => Number(new URL(gw.url).port);
const receivedAt = (gw: TestGateway, pathPrefix: string) => gw.homeserver.received.filter((r) => r.url.startsWith(pathPrefix));

interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/**
 * node:http with full control of headers and body (fetch would refuse or rewrite them). `chunks` are
 * written one after another; without a Content-Length header the body goes chunked. Resolves to the
 * reply, or to `{error}` when the gateway closed the connection instead of answering.
 */
function send(
  gw: TestGateway,
  options: { method: string; path: string; headers?: http.OutgoingHttpHeaders; chunks?: Buffer[] },
): Promise<RawReply | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request({
      host: "127.0.0.1",
      port: portOf(gw),
      method: options.method,
      path: options.path,
      headers: options.headers,
      agent: false,
    });
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on("error", (error) => resolve({ error: error.message }));
    });
    req.on("error", (error) => resolve({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
    const write = async () => {
      for (const chunk of options.chunks ?? []) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    };
    void write();
  });
}

/**
 * Opens a raw connection, writes `head` at once, then `trickle` one byte every `everyMs`, and reports
 * when the gateway closed the connection (ms after connecting) and what it sent. Gives up after 10 s.
 */
function slowClient(port: number, head: string, trickle: string, everyMs: number): Promise<{ closedAfterMs: number; received: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(head);
      let i = 0;
      timer = setInterval(() => {
        if (i < trickle.length && socket.writable) socket.write(trickle[i++] as string);
      }, everyMs);
    });
    const giveUp = setTimeout(() => socket.destroy(), 10_000);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ closedAfterMs: performance.now() - started, received: Buffer.concat(chunks).toString("utf8") });
    });
  });
}

t.test("the strict HTTP parser is on", async (t) => {
  const gw = await startGateway(t);
  t.equal(
    (gw.gateway.server as { insecureHTTPParser?: boolean }).insecureHTTPParser,
    false,
    "http.createServer({insecureHTTPParser: false})",
  );
  t.notOk(process.execArgv.includes("--insecure-http-parser"), "not turned on for the process");
  t.notMatch(process.env.NODE_OPTIONS ?? "", /insecure-http-parser/);
});

t.test("two Authorization headers through the gateway: 401 M_MISSING_TOKEN, never forwarded", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  const mark = gw.homeserver.received.length;
  for (const values of [
    [`Bearer ${login.access_token}`, `Bearer ${login.access_token}`],
    [`Bearer ${login.access_token}`, "Bearer forged"],
    ["Bearer forged", `Bearer ${login.access_token}`],
  ]) {
    const reply = await send(gw, { method: "GET", path: WHOAMI, headers: { Authorization: values } });
    t.match(reply, { status: 401, body: { errcode: "M_MISSING_TOKEN", error: "Multiple Authorization headers." } }, values.join(" + "));
  }
  t.same(gw.homeserver.received.slice(mark), [], "nothing forwarded");
});

t.test("overlong and invalid UTF-8 escapes are refused (a lenient decoder reads %C0%AF as /)", async (t) => {
  const gw = await startGateway(t);
  const jwt = (await gw.login()).access_token as string;
  const mark = gw.homeserver.received.length;
  for (const path of [
    `${V3}/profile/%C0%AE%C0%AE/account/whoami`,
    `${V3}/profile%C0%AFaccount/whoami`,
    `${V3}/publicRooms%E0%80%AF..%E0%80%AFaccount`,
    `${V3}/rooms/%ED%A0%80/messages`,
    `${V3}/rooms/%C3/messages`,
  ]) {
    for (const headers of [{}, bearer(jwt)]) {
      const reply = await gw.request(path, { headers });
      t.equal(reply.status, 400, `${path}: 400`);
      t.same(reply.body, { errcode: "M_UNRECOGNIZED", error: "Request path is not in canonical form" });
    }
  }
  t.same(gw.homeserver.received.slice(mark), [], "nothing forwarded");
  // Valid UTF-8 escapes are still fine.
  const ok = await gw.request(`${V3}/rooms/%C3%A9/messages`, { headers: bearer(jwt) });
  t.equal(ok.status, 200);
});

t.test("register: a token in the query string never reaches the homeserver", async (t) => {
  // The gateway answers POST …/register itself and calls the homeserver's own register with the query.
  const gw = await startGateway(t);
  const jwt = (await gw.login()).access_token as string;
  const mark = gw.homeserver.received.length;
  for (const query of [`?kind=user&access_token=${jwt}`, `?access%5Ftoken=${jwt}&kind=user`, `?%61ccess_token=${jwt}&kind=user`]) {
    const reply = await gw.request(`${V3}/register${query}`, {
      method: "POST",
      body: JSON.stringify({ username: "carol", password: "p" }),
    });
    t.equal(reply.status, 401, `${query.slice(0, 20)}…: the homeserver's own answer passes through`);
  }
  const forwarded = gw.homeserver.received.slice(mark);
  t.same(
    forwarded.map((r) => r.url),
    ["/_matrix/client/v3/register?kind=user", "/_matrix/client/v3/register?kind=user", "/_matrix/client/v3/register?kind=user"],
    "the homeserver got the other parameters only",
  );
  t.notOk(
    forwarded.some((r) => [r.url, r.body, ...r.rawHeaders].join("\n").includes(jwt)),
    "the JWT is nowhere in what it received",
  );
});

t.test("bytes after a request never corrupt its response", async (t) => {
  // An unframed body (OPTIONS with bytes after it) is parsed as a second, malformed request. The answer to
  // the first request must arrive intact, and nothing may be spliced after it on a connection it closes.
  const gw = await startGateway(t);
  const raw = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(portOf(gw), "127.0.0.1", () => socket.write(`OPTIONS ${WHOAMI} HTTP/1.1\r\nHost: x\r\n\r\n{}`));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", () => {});
  });
  t.equal(raw.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, "exactly one response");
  t.match(raw, /^HTTP\/1\.1 204 No Content\r\n[\s\S]*\r\n\r\n$/, "the preflight's own 204 without a body, complete");
  t.equal((await gw.request("/health")).status, 200);
});

t.test("case changes and trailing dots never turn a protected path public", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  // Each is a spelling of a public endpoint that the public list does not match: it needs a token.
  const paths = [
    `${V3}/publicRooms.`,
    `${V3}/publicRooms..`,
    `${V3}/publicRooms/`,
    `${V3}/PUBLICROOMS`,
    `${V3}/PublicRooms`,
    "/_matrix/client/V3/publicRooms",
    "/_matrix/client/versions.",
    "/_matrix/client/VERSIONS",
    `${V3}/profile./@alice:example.org`,
    `${V3}/Profile/@alice:example.org`,
    `${V3}/register.`,
    "/_matrix/media/v3/download./example.org/abc",
    "/_matrix/media/V3/download/example.org/abc",
    `${V3}/account/whoami.`,
    `${V3}/account./whoami`,
  ];
  const mark = gw.homeserver.received.length;
  for (const path of paths) {
    const reply = await gw.request(path);
    t.equal(reply.status, 401, `${path}: 401`);
    t.same(reply.body, { errcode: "M_MISSING_TOKEN", error: "Missing access token" }, `${path}: M_MISSING_TOKEN`);
  }
  t.same(gw.homeserver.received.slice(mark), [], "none was forwarded without a token");

  // With a token they are forwarded as written, carrying the session's credential: the upstream decides.
  for (const path of paths.slice(0, 3)) {
    const reply = await gw.request(path, { headers: bearer(login.access_token) });
    t.equal(reply.status, 200, `${path} with a token`);
    t.equal(reply.body.echo?.url, path, "the exact path");
  }
  t.ok(
    gw.homeserver.received.slice(mark).every((r) => r.userId === "@alice:example.org"),
    "every forwarded request was authenticated upstream",
  );
});

t.test("CR/LF never reaches an upstream header", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  const token = login.access_token as string;

  // X-Request-Id is the one client value copied into an upstream header: only a well-formed one is.
  for (const id of ["abc\r\nX-Injected: 1", "abc\nX-Injected: 1", "abc\rdef", "a b", "%0D%0AX-Injected:%201", "x".repeat(129), ""]) {
    const info = newRequestInfo({ headers: { "x-request-id": id } } as unknown as http.IncomingMessage);
    t.match(info.requestId, UUID, `${JSON.stringify(id)} is replaced by a UUID`);
  }
  t.equal(newRequestInfo({ headers: { "x-request-id": "abc-123.x_y:z" } } as unknown as http.IncomingMessage).requestId, "abc-123.x_y:z");

  // Through the gateway: encoded CR/LF in X-Request-Id is replaced, in the query it stays encoded.
  let mark = gw.homeserver.received.length;
  const encoded = `${WHOAMI}?x=%0D%0AX-Injected:%201&y=%0a`;
  const reply = await gw.request(encoded, { headers: { ...bearer(token), "X-Request-Id": "%0D%0AX-Injected:%201" } });
  t.equal(reply.status, 200);
  const [request] = gw.homeserver.received.slice(mark);
  t.equal(request?.url, encoded, "the query is forwarded byte for byte, still encoded");
  t.match(request?.headers["x-request-id"], UUID, "the upstream got a fresh request id");
  t.equal(reply.headers.get("x-request-id"), request?.headers["x-request-id"], "and the client the same one");
  t.notOk("x-injected" in (request?.headers ?? {}), "no injected header");
  t.notOk(
    request?.rawHeaders.some((value) => /[\r\n]/.test(value)),
    "no CR or LF in any upstream header",
  );

  // A token whose decoded value holds CR/LF is just a bad token.
  mark = gw.homeserver.received.length;
  const crlfToken = await gw.request(`${WHOAMI}?access_token=${encodeURIComponent(`${token}\r\nX-Injected: 1`)}`);
  expectError(t, crlfToken, 401, "M_UNKNOWN_TOKEN", { soft_logout: false }, "Invalid access token passed.");

  // Raw CR/LF inside a header value never gets past Node's strict parser (a bare LF ends the header).
  const raw = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(portOf(gw), "127.0.0.1", () =>
      socket.write(
        `GET ${WHOAMI} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nX-Request-Id: abc\nX-Injected: 1\r\nConnection: close\r\n\r\n`,
      ),
    );
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", () => {});
  });
  t.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/, "a bare LF inside a header block: 400");
  t.match(raw, /\{"errcode":"M_UNKNOWN","error":"Malformed HTTP request"\}$/);
  t.same(gw.homeserver.received.slice(mark), [], "neither reached the homeserver");
});

t.test("headers past Node's limit: 431 JSON, never forwarded", async (t) => {
  const gw = await startGateway(t);
  const token = (await gw.login()).access_token as string;
  const mark = gw.homeserver.received.length;
  // Node's default limit for the whole header block is 16 KiB.
  const raw = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(portOf(gw), "127.0.0.1", () =>
      socket.write(`GET ${WHOAMI} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`),
    );
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", () => {});
  });
  t.match(raw, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  t.match(raw, /\r\nContent-Type: application\/json\r\n/);
  t.match(raw, /\r\nAccess-Control-Allow-Origin: \*\r\n/);
  t.match(raw, /\r\n\r\n\{"errcode":"M_UNKNOWN","error":"The request headers are too large"\}$/);
  t.same(gw.homeserver.received.slice(mark), [], "nothing reached the homeserver");
});

t.test("body limits: 413 M_TOO_LARGE before forwarding; media uploads may be larger", async (t) => {
  const gw = await startGateway(t);
  const token = (await gw.login()).access_token as string;
  t.equal(gw.config.http.max_body, MiB, "http.max_body defaults to 1MiB");
  t.equal(gw.config.http.max_upload_body, 50 * MiB, "http.max_upload_body defaults to 50MiB");
  const send_ = `${V3}/rooms/%21r%3Aexample.org/send/m.room.message`;
  const put = (txn: string, size: number, headers: http.OutgoingHttpHeaders = {}) =>
    send(gw, {
      method: "PUT",
      path: `${send_}/${txn}`,
      headers: { ...bearer(token), "Content-Type": "application/json", "Content-Length": size, ...headers },
      chunks: [Buffer.alloc(size, "a")],
    });

  // Content-Length over the limit: refused up front, nothing forwarded.
  const tooLarge = await put("t1", 2 * MiB);
  t.match(tooLarge, { status: 413, body: { errcode: "M_TOO_LARGE", error: "Request body too large" } }, "2 MiB → 413");
  t.match(tooLarge, { headers: { "content-type": "application/json", "access-control-allow-origin": "*" } });
  const oneOver = await put("t2", MiB + 1);
  t.match(oneOver, { status: 413, body: { errcode: "M_TOO_LARGE" } }, "1 MiB + 1 byte → 413");
  t.same(receivedAt(gw, send_), [], "the homeserver never saw either");
  // Exactly the limit passes, body intact.
  const atLimit = await put("t3", MiB);
  t.match(atLimit, { status: 200, body: { echo: { method: "PUT", url: `${send_}/t3` } } }, "exactly 1 MiB passes");
  t.equal(receivedAt(gw, send_)[0]?.body.length, MiB);

  // A media upload of 2 MiB passes, on both upload endpoints.
  for (const [method, path] of [
    ["POST", "/_matrix/media/v3/upload?filename=big.bin"],
    ["PUT", "/_matrix/media/v3/upload/example.org/abcdef"],
  ] as const) {
    const upload = await send(gw, {
      method,
      path,
      headers: { ...bearer(token), "Content-Type": "application/octet-stream", "Content-Length": 2 * MiB },
      chunks: [Buffer.alloc(2 * MiB, "b")],
    });
    t.match(upload, { status: 200, body: { echo: { method, url: path } } }, `${method} upload of 2 MiB passes`);
    t.equal(receivedAt(gw, path.split("?")[0] as string).at(-1)?.body.length, 2 * MiB, "complete upstream");
  }
  // …but not on another media path.
  const notUpload = await send(gw, {
    method: "POST",
    path: "/_matrix/media/v3/create",
    headers: { ...bearer(token), "Content-Length": 2 * MiB },
    chunks: [Buffer.alloc(2 * MiB, "c")],
  });
  t.match(notUpload, { status: 413, body: { errcode: "M_TOO_LARGE" } }, "2 MiB to /media/v3/create → 413");

  // A chunked body has no length to check up front: it is counted while streaming and cut past the limit.
  const chunked = await send(gw, {
    method: "PUT",
    path: `${send_}/t4`,
    headers: { ...bearer(token), "Content-Type": "application/json" },
    chunks: Array.from({ length: 24 }, () => Buffer.alloc(64 * 1024, "d")), // 1.5 MiB
  });
  if ("error" in chunked) t.pass(`chunked 1.5 MiB: the connection was closed (${chunked.error})`);
  else t.match(chunked, { status: 413, body: { errcode: "M_TOO_LARGE", error: "Request body too large" } }, "chunked 1.5 MiB → 413");
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(
    receivedAt(gw, `${send_}/t4`).map((r) => r.body.length),
    [],
    "the homeserver never received a complete chunked body",
  );
  // A chunked body under the limit is forwarded whole.
  const small = await send(gw, {
    method: "PUT",
    path: `${send_}/t5`,
    headers: { ...bearer(token), "Content-Type": "application/json" },
    chunks: Array.from({ length: 8 }, () => Buffer.alloc(64 * 1024, "e")), // 0.5 MiB
  });
  t.match(small, { status: 200 }, "chunked 0.5 MiB passes");
  t.equal(receivedAt(gw, `${send_}/t5`)[0]?.body.length, MiB / 2);
  t.equal((await gw.request("/health")).status, 200, "the gateway is fine");
});

t.test("timeouts set on purpose (http.headers_timeout 1s, http.request_timeout 2s)", async (t) => {
  const gw = await startGateway(t, { yaml: "http: {headers_timeout: 1s, request_timeout: 2s}" });
  const token = (await gw.login()).access_token as string;
  t.equal(gw.gateway.server.headersTimeout, 1000);
  t.equal(gw.gateway.server.requestTimeout, 2000);

  await t.test("slowloris: headers sent a byte at a time are cut off", async (t) => {
    const head = `GET ${WHOAMI} HTTP/1.1\r\n`;
    const { closedAfterMs, received } = await slowClient(portOf(gw), head, `Host: x\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`, 100);
    t.ok(closedAfterMs >= 900 && closedAfterMs < 3000, `closed after ${Math.round(closedAfterMs)} ms`);
    // Node reports the timeout as a client error: 408 JSON with CORS headers, and the connection closes.
    t.match(received, /^HTTP\/1\.1 408 Request Timeout\r\n/, "408, as Node itself would answer");
    t.match(received, /\r\nConnection: close\r\n/);
    t.match(received, /\r\nAccess-Control-Allow-Origin: \*\r\n/);
    t.match(received, /\r\n\r\n\{"errcode":"M_UNKNOWN","error":"The request took too long to arrive"\}$/);
  });

  await t.test("a slow body is cut off at the request timeout; the homeserver never sees it complete", async (t) => {
    const path = `${V3}/user/@alice:example.org/filter`;
    const body = `{"room":{"timeline":{"limit":10}},"pad":"${"x".repeat(100)}"}`;
    const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { closedAfterMs, received } = await slowClient(portOf(gw), head, body, 100);
    t.ok(closedAfterMs >= 1900 && closedAfterMs < 3500, `closed after ${Math.round(closedAfterMs)} ms`);
    t.match(received, /^(HTTP\/1\.1 4\d\d [\s\S]*"errcode":"M_UNKNOWN"[\s\S]*)?$/, "no success: a 4xx JSON answer or none");
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.same(receivedAt(gw, path), [], "no complete body reached the homeserver");
  });

  // A prompt request on the same server is unaffected.
  const me = await gw.request(WHOAMI, { headers: bearer(token) });
  t.equal(me.status, 200);
});

t.test("an HTTP/1.1 request without Host: 400 JSON from the gateway, never forwarded; HTTP/1.0 may omit it", async (t) => {
  const gw = await startGateway(t);
  const token = (await gw.login()).access_token as string;
  const rawExchange = (request: string) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(portOf(gw), "127.0.0.1", () => socket.write(request));
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
      socket.on("error", () => {});
    });
  const mark = gw.homeserver.received.length;
  const noHost = await rawExchange(`GET ${WHOAMI} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  t.match(noHost, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(noHost, /\r\nAccess-Control-Allow-Origin: \*\r\n/i, "with the CORS headers of every gateway error");
  t.match(noHost, /\r\nX-Request-Id: \S+\r\n/i);
  t.match(noHost, /\r\n\r\n\{"errcode":"M_UNKNOWN","error":"Missing Host header"\}$/);
  t.same(gw.homeserver.received.slice(mark), [], "not forwarded");

  const http10 = await rawExchange(`GET ${WHOAMI} HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  t.match(http10, /^HTTP\/1\.1 200 OK\r\n/, "HTTP/1.0 has no Host requirement");
  t.match(http10, /"user_id":"@alice:example.org"/);
});
