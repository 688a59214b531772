/**
 * No side doors (security.md "Routing and privileges"): every spelling of an auth endpoint is the
 * gateway's, never the homeserver's; no homeserver credential ever reaches a client; methods outside
 * the client-server API reach nothing; the query is read as the homeserver reads it.
 *
 * The homeserver here is careless on purpose (`serveAuthOnAnySpelling`): any spelling of login,
 * register, refresh, tokenrefresh or logout that reaches it is answered with a fresh homeserver
 * credential (`syt_…`, `syr_…`). The property test generates the spellings.
 */
import net from "node:net";
import fc from "fast-check";
import t, { type Test } from "tap";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import { rawRequest } from "../helpers/raw-reply.js";
import { CORS, postJson } from "../helpers/session-api.js";

const V3 = "/_matrix/client/v3";
const HOMESERVER_CREDENTIAL = /sy[tr]_/;
const PASSWORD_LOGIN = { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland" };

async function carelessGateway(t: Test): Promise<TestGateway> {
  const gw = await startGateway(t);
  gw.homeserver.serveAuthOnAnySpelling();
  return gw;
}

/** Sub-paths of the auth endpoints that return no credential and pass (as the homeserver spells them). */
const PASSING_SUB_PATHS = [
  /\/login\/sso\/redirect(\/[A-Za-z0-9_.~-]+)?$/,
  /\/login\/cas\/(redirect|ticket)$/,
  /\/login\/get_token$/,
  /\/login\/token$/,
  /\/register\/available$/,
  /\/register\/(email|msisdn)\/requestToken$/,
  /\/register\/m\.login\.registration_token\/validity$/,
];

t.test("the spellings the homeserver reference serves, and the ones it does not", async (t) => {
  const gw = await carelessGateway(t);
  // Served by the gateway, as Synapse serves them (login on unstable too; refresh on v1 and MSC2918's prefix).
  const unstableLogin = await postJson(gw, "/_matrix/client/unstable/login", { ...PASSWORD_LOGIN, refresh_token: true });
  t.equal(unstableLogin.status, 200, "unstable/login is the gateway's login");
  t.match(unstableLogin.body, { user_id: "@alice:example.org", access_token: /^eyJ/, refresh_token: /^magr_/ });
  const msc2918 = await postJson(gw, "/_matrix/client/unstable/org.matrix.msc2918.refresh_token/refresh", {
    refresh_token: unstableLogin.body.refresh_token,
  });
  t.equal(msc2918.status, 200, "MSC2918's unstable refresh rotates like /v1/refresh");
  t.match(msc2918.body, { access_token: /^eyJ/, refresh_token: /^magr_/ });
  const unstableLogout = await postJson(gw, "/_matrix/client/unstable/logout", {}, bearer(msc2918.body.access_token));
  t.equal(unstableLogout.status, 200, "unstable/logout is the gateway's logout");
  t.equal((await gw.request(`${V3}/account/whoami`, { headers: bearer(msc2918.body.access_token) })).status, 401, "and ends the session");

  const refused: [string, string, number, Record<string, unknown>][] = [
    ["POST", "/_matrix/client/r0/refresh", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/unstable/refresh", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/v1/login", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/v1/register", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/v2_alpha/register", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", `${V3}/login/`, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", `${V3}/logi%6E`, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/V3/login", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", `${V3}/LOGIN`, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", `${V3}/login/extra`, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", `${V3}/logout/all/`, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/v1/logout", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/login", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/unstable/com.example/login", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
    ["POST", "/_matrix/client/r0/tokenrefresh", 403, { errcode: "M_FORBIDDEN", error: "tokenrefresh is no longer supported." }],
    ["POST", "/_matrix/client/r0/tokenrefreshXYZ", 403, { errcode: "M_FORBIDDEN", error: "tokenrefresh is no longer supported." }],
    ["POST", "/_matrix/client/v1/tokenrefresh", 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }],
  ];
  for (const [method, path, status, body] of refused) {
    const reply = await rawRequest(gw, {
      method,
      path,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(PASSWORD_LOGIN),
    });
    t.equal(reply.status, status, `${method} ${path}: ${status}`);
    t.strictSame(reply.body, body, `${method} ${path}: body`);
  }
  // A browser's preflight on any client path (a refused spelling too) is answered 204 here, as Synapse does.
  const preflight = await rawRequest(gw, { method: "OPTIONS", path: "/_matrix/client/r0/refresh" });
  t.equal(preflight.status, 204, "OPTIONS on a refused spelling: the preflight answer");
  t.strictSame(gw.homeserver.authHits, [], "no spelling reached the homeserver's auth handlers");
});

t.test("property: no spelling of an auth endpoint reaches the homeserver or returns its credential", async (t) => {
  const gw = await carelessGateway(t);
  let session = await gw.login();

  const version = fc.oneof(
    fc.constantFrom(
      "",
      "api/v1",
      "r0",
      "v1",
      "v2",
      "v2_alpha",
      "v3",
      "v4",
      "unstable",
      "unstable/org.matrix.msc2918.refresh_token",
      "unstable/org.matrix.msc3882",
      "unstable/org.matrix.msc3231",
    ),
    fc.stringMatching(/^[a-z0-9_]{1,8}$/),
    fc.stringMatching(/^[a-z]{2,4}\.[a-z0-9.]{1,12}$/).map((vendor) => `unstable/${vendor}`),
  );
  const endpoint = fc.constantFrom("login", "register", "refresh", "tokenrefresh", "logout", "logout/all", "tokenrefreshXYZ");
  const subPath = fc.oneof(
    { weight: 4, arbitrary: fc.constant("") },
    { weight: 3, arbitrary: fc.constantFrom("/", "/extra", "/all/", "/sso/redirect", "/sso/redirect/idp", "/get_token", "/token") },
    { weight: 2, arbitrary: fc.constantFrom("/available", "/email/requestToken", "/m.login.registration_token/validity") },
  );
  // One letter of the endpoint upper-cased and/or percent-encoded (either hex case), as a lenient homeserver reads it.
  const spelling = fc.record({ upper: fc.option(fc.nat(), { freq: 2 }), encode: fc.option(fc.nat(), { freq: 2 }), lowerHex: fc.boolean() });
  const method = fc.constantFrom("GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "FOO");
  const token = fc.constantFrom("none", "valid", "bogus", "valid-in-query", "valid-in-query-semicolon");
  const body = fc.constantFrom(
    PASSWORD_LOGIN,
    { ...PASSWORD_LOGIN, refresh_token: true },
    { type: "m.login.application_service", identifier: { type: "m.id.user", user: "alice" } },
    { type: "m.login.application_service", username: "mallory" },
    { refresh_token: "magr_x" },
    {},
  );

  let served = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(version, endpoint, subPath, spelling, method, token, body, async (v, e, sub, how, m, tok, b) => {
      let name = `${e}${sub}`;
      const letters = [...name.matchAll(/[a-z]/g)].map((match) => match.index as number);
      if (how.upper !== null && letters.length) {
        const at = letters[how.upper % letters.length] as number;
        name = name.slice(0, at) + name.charAt(at).toUpperCase() + name.slice(at + 1);
      }
      if (how.encode !== null && letters.length) {
        const at = letters[how.encode % letters.length] as number;
        const hex = name.charCodeAt(at).toString(16);
        name = `${name.slice(0, at)}%${how.lowerHex ? hex : hex.toUpperCase()}${name.slice(at + 1)}`;
      }
      let path = `/_matrix/client/${v ? `${v}/` : ""}${name}`;
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (tok === "valid") headers.Authorization = `Bearer ${session.access_token}`;
      if (tok === "bogus") headers.Authorization = "Bearer syt_bogus";
      if (tok === "valid-in-query") path += `?access_token=${session.access_token}`;
      if (tok === "valid-in-query-semicolon") path += `?x=1;access_token=${session.access_token}`;
      const hitsBefore = gw.homeserver.authHits.length;
      const appserviceBefore = countAppserviceBodies(gw);
      const reply = await rawRequest(gw, { method: m, path, headers, body: m === "GET" || m === "HEAD" ? undefined : JSON.stringify(b) });

      const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
      if (HOMESERVER_CREDENTIAL.test(text)) throw new Error(`${m} ${path} returned a homeserver credential: ${text}`);
      if (reply.status >= 500 && reply.status !== 502) throw new Error(`${m} ${path}: ${reply.status} ${text}`);
      const newHits = gw.homeserver.authHits.slice(hitsBefore);
      const rawPath = path.split("?")[0] as string;
      if (newHits.length && !PASSING_SUB_PATHS.some((subPath) => subPath.test(rawPath))) {
        throw new Error(`${m} ${path} reached the homeserver's auth handler`);
      }
      if (countAppserviceBodies(gw) > appserviceBefore)
        throw new Error(`${m} ${path}: an m.login.application_service request reached the homeserver`);
      if (reply.status === 200 && e.startsWith("logout") && tok.startsWith("valid") && m === "POST") {
        // A logout that answers 200 ended the gateway session too.
        const after = await gw.request(`${V3}/account/whoami`, { headers: bearer(session.access_token) });
        if (after.status !== 401) throw new Error(`${m} ${path} answered 200 but the session still works`);
        session = await gw.login();
      }
      if (reply.status === 404 || reply.status === 403 || reply.status === 405) refused++;
      else served++;
    }),
    { numRuns: 500 },
  );
  t.ok(refused > 100, `${refused} requests were refused (the property is not vacuous)`);
  // Served spellings are rare among the generated ones; the table test above pins each of them.
  t.comment(`${served} requests were served by the gateway or passed as a known sub-path`);
});

/**
 * Logins and registrations of type `m.login.application_service` that reached the homeserver, under any
 * spelling of those two endpoints (a sub-path such as `login/get_token` is another endpoint: its body's `type`
 * means nothing there).
 */
function countAppserviceBodies(gw: TestGateway): number {
  const loginOrRegister = /\/(login|register)\/?$/i;
  return gw.homeserver.received.filter(
    (r) => r.body.includes("m.login.application_service") && loginOrRegister.test(decodeURIComponent(r.url.split("?")[0] as string)),
  ).length;
}

t.test("m.login.application_service from a client never reaches the homeserver", async (t) => {
  const gw = await startGateway(t);
  const asLogin = await postJson(gw, `${V3}/login`, {
    type: "m.login.application_service",
    identifier: { type: "m.id.user", user: "alice" },
  });
  // Synapse's answer to an appservice login without its token (issue 18 part 3).
  t.equal(asLogin.status, 401);
  t.equal(asLogin.body.errcode, "M_MISSING_TOKEN");
  for (const prefix of ["/_matrix/client/r0", V3, "/_matrix/client/unstable"]) {
    const asRegister = await postJson(
      gw,
      `${prefix}/register`,
      { type: "m.login.application_service", username: "mallory" },
      bearer("as-token"),
    );
    t.equal(asRegister.status, 400, `${prefix}/register of type m.login.application_service`);
    t.strictSame(asRegister.body, {
      errcode: "M_UNKNOWN",
      error: "Application service registration is not available through the gateway",
    });
  }
  t.equal(countAppserviceBodies(gw), 0, "nothing of the kind reached the homeserver");
});

t.test("last line: a proxied answer that carries a homeserver credential is dropped", async (t) => {
  const gw = await startGateway(t);
  const { access_token } = await gw.login();
  const mint = (body: string, headers?: Record<string, string>) =>
    gw.homeserver.setCannedAnswer(`${V3}/custom/mint`, { status: 200, body, headers });
  const post = () => rawRequest(gw, { method: "POST", path: `${V3}/custom/mint`, headers: bearer(access_token), body: "{}" });

  mint('{"user_id":"@alice:example.org","access_token":"syt_leak","device_id":"D"}');
  const dropped = await post();
  t.equal(dropped.status, 502);
  t.strictSame(dropped.body, { errcode: "M_UNKNOWN", error: "The homeserver answered with something the gateway does not relay" });
  t.ok(
    gw.logs.some((line) => line.event === "upstream_credential_dropped" && line.level === "error"),
    "logged as an error (without the token)",
  );
  t.notOk(JSON.stringify(gw.logs).includes("syt_leak"), "the credential is in no log line");

  mint('{"refresh_token":"syr_leak"}');
  t.equal((await post()).status, 502, "a refresh token alone");
  mint('{"access\\u005ftoken":"syt_leak"}');
  t.equal((await post()).status, 502, "an escaped key, as a client's JSON parser reads it");

  mint('{"a":{"access_token":"nested"},"b":"access_token"}');
  const nested = await post();
  t.equal(nested.status, 200, "a nested key or a value with the text passes");
  t.strictSame(nested.body, { a: { access_token: "nested" }, b: "access_token" });

  // A long answer is relayed as it streams, and cut off before the key would be relayed.
  mint(`{"filler":"${"x".repeat(200_000)}","access_token":"syt_late"}`);
  const late = await post().then(
    (reply) => JSON.stringify(reply.body),
    (error: Error) => `cut: ${error.message}`,
  );
  t.notOk(late.includes("syt_late"), "the late credential never reached the client");

  // A compressed answer cannot be read: refused (POSTs go upstream without Accept-Encoding).
  mint('{"ok":true}', { "Content-Encoding": "gzip" });
  t.equal((await post()).status, 502, "an answer compressed against the gateway's request");
  mint('{"ok":true}');
  await rawRequest(gw, {
    method: "POST",
    path: `${V3}/custom/mint`,
    headers: { ...bearer(access_token), "Accept-Encoding": "gzip" },
    body: "{}",
  });
  t.equal(gw.homeserver.received.at(-1)?.headers["accept-encoding"], undefined, "a POST goes upstream without Accept-Encoding");

  // The one endpoint whose answer is a token for a third party (an identity server, a widget).
  const openid = `${V3}/user/@alice:example.org/openid/request_token`;
  gw.homeserver.setCannedAnswer(openid, {
    status: 200,
    body: '{"access_token":"opaque-openid","token_type":"Bearer","matrix_server_name":"example.org","expires_in":3600}',
  });
  const relayed = await rawRequest(gw, { method: "POST", path: openid, headers: bearer(access_token), body: "{}" });
  t.equal(relayed.status, 200, "openid/request_token is relayed");
  t.equal(relayed.body.access_token, "opaque-openid");

  // GET answers are not inspected (the hot path), except under an auth endpoint's passing sub-paths.
  gw.homeserver.setCannedAnswer(`${V3}/register/available`, { status: 200, body: '{"access_token":"syt_get"}' });
  const available = await rawRequest(gw, { path: `${V3}/register/available?username=x` });
  t.equal(available.status, 502, "a passing sub-path's answer is inspected whatever the method");
});

t.test("methods outside the client-server API reach nothing", async (t) => {
  const gw = await startGateway(t);
  const { access_token } = await gw.login();
  const mark = gw.homeserver.received.length;
  for (const method of ["TRACE", "PATCH", "PROPFIND", "FOO", "MKCOL"]) {
    for (const path of [`${V3}/account/whoami`, `${V3}/login`, "/_matrix/federation/v1/version", "/health"]) {
      const reply = await rawRequest(gw, { method, path, headers: bearer(access_token) });
      t.equal(reply.status, 405, `${method} ${path}: 405`);
      t.strictSame(reply.body, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }, `${method} ${path}: body`);
      const allow = reply.rawHeaders[reply.rawHeaders.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === "allow") + 1];
      t.equal(allow, "GET, HEAD, POST, PUT, DELETE, OPTIONS", `${method} ${path}: Allow`);
    }
  }
  t.strictSame(gw.homeserver.received.slice(mark), [], "nothing was forwarded");

  // CONNECT goes to a separate event in Node: answered there too, and the connection closed.
  const connect = await rawExchange(
    gw,
    `CONNECT 127.0.0.1:${gw.homeserver.port} HTTP/1.1\r\nHost: 127.0.0.1:${gw.homeserver.port}\r\n\r\n`,
  );
  t.match(connect, /^HTTP\/1\.1 405 Method Not Allowed\r\n/, "CONNECT: 405");
  t.match(connect, /\r\n\r\n\{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"\}$/, "CONNECT: JSON body");
  t.match(connect, /access-control-allow-origin: \*/i);

  // Two Host headers (RFC 9112 §3.2): 400, nothing forwarded.
  const twoHosts = await rawRequest(gw, {
    path: `${V3}/account/whoami`,
    headers: ["Host", "a.example", "Host", "b.example", "Authorization", `Bearer ${access_token}`],
  });
  t.equal(twoHosts.status, 400);
  t.strictSame(twoHosts.body, { errcode: "M_UNKNOWN", error: "More than one Host header" });
  t.strictSame(gw.homeserver.received.slice(mark), [], "still nothing forwarded");
  t.match(Object.fromEntries(Object.entries(CORS)), CORS);
});

/** Writes `text` on a fresh connection and returns everything the gateway sent back until it closed. */
function rawExchange(gw: TestGateway, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(gw.url).port), "127.0.0.1", () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
    socket.setTimeout(10_000, () => reject(new Error("no answer")));
  });
}

t.test("the query is read as the homeserver reads it: `;` separates parameters too", async (t) => {
  const gw = await startGateway(t);
  const { access_token } = await gw.login();
  for (const query of [`a=1;access_token=${access_token}`, `a=1;access%5Ftoken=${access_token};b=2`, `access_token=${access_token};a=1`]) {
    const reply = await gw.request(`${V3}/account/whoami?${query}`);
    t.equal(reply.status, 200, `?${query.replace(access_token, "JWT")}: the token is found`);
    const forwarded = gw.homeserver.received.at(-1)?.url ?? "";
    t.notOk(forwarded.includes(access_token) || /access(_|%5F)token/i.test(forwarded), "and never forwarded");
  }
  const mixed = await gw.request(`${V3}/account/whoami?a=1;access_token=${access_token}`, { headers: bearer(access_token) });
  t.equal(mixed.status, 401, "a header and a `;`-separated query token at once");
  t.equal(mixed.body.errcode, "M_MISSING_TOKEN");
  t.notOk(JSON.stringify(gw.logs).includes(access_token), "no log line holds the token");
});

t.test("the long-poll deadline follows a real `timeout` parameter only", async (t) => {
  const gw = await startGateway(t); // upstream.timeout: 2s
  const { access_token } = await gw.login();
  gw.homeserver.setDelay(3_000);
  const [fake, real] = await Promise.all([
    gw.request(`${V3}/account/whoami?filter=timeout=9000`, { headers: bearer(access_token) }),
    gw.request(`${V3}/account/whoami?since=x;timeout=9000`, { headers: bearer(access_token) }),
  ]);
  t.equal(fake.status, 504, "`timeout=` inside another parameter's value extends nothing");
  t.strictSame(fake.body, { errcode: "M_UNKNOWN", error: "The homeserver did not answer in time" });
  t.equal(real.status, 200, "a real `timeout` parameter (after a `;`) extends the deadline");
});
