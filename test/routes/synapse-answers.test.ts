/**
 * Issue 18 part 3: for each request the gateway answers itself, the answer a stock Synapse v1.67 gives to the
 * same request (status, full JSON body, headers), except where the spec says otherwise (a known endpoint with
 * the wrong method: 405 where Synapse 1.67 says 400) or Synapse crashes with a 500 (here a 400 JSON error).
 * Each row is one request of Synapse's measured reference, body pinned in full.
 */
import t from "tap";
import { startGateway, type TestGateway } from "../helpers/gateway.js";
import { headerLines, rawRequest } from "../helpers/raw-reply.js";
import { CORS } from "../helpers/session-api.js";

const V3 = "/_matrix/client/v3";
const ALICE_ID = { type: "m.id.user", user: "alice" };
const NO_CACHE = "no-cache, no-store, must-revalidate";

interface Row {
  name: string;
  method?: string;
  path?: string;
  /** A string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  answer: unknown;
  /** Headers the answer must carry besides Synapse's common ones. */
  answerHeaders?: Record<string, string>;
  /** Whether the homeserver may be asked (a password check). */
  asksHomeserver?: boolean;
}

const error = (errcode: string, message: string, extra: Record<string, unknown> = {}) => ({ errcode, error: message, ...extra });
const password = (fields: Record<string, unknown>) => ({ type: "m.login.password", ...fields });

const LOGIN_ROWS: Row[] = [
  { name: "1 {}", body: {}, status: 400, answer: error("M_UNKNOWN", "Missing JSON keys.") },
  {
    name: "2 password login without anything",
    body: password({}),
    status: 400,
    answer: error("M_INVALID_PARAM", "Bad parameter: password"),
  },
  {
    name: "3 no password",
    body: password({ identifier: ALICE_ID }),
    status: 400,
    answer: error("M_INVALID_PARAM", "Bad parameter: password"),
  },
  {
    name: "4 password a number",
    body: password({ identifier: ALICE_ID, password: 12345 }),
    status: 400,
    answer: error("M_INVALID_PARAM", "Bad parameter: password"),
  },
  {
    name: "5 password null",
    body: password({ identifier: ALICE_ID, password: null }),
    status: 400,
    answer: error("M_INVALID_PARAM", "Bad parameter: password"),
  },
  {
    name: '6 identifier "alice"',
    body: password({ identifier: "alice", password: "wonderland" }),
    status: 400,
    answer: error("M_MISSING_PARAM", "'identifier' dict has no key 'type'"),
  },
  {
    name: "7 identifier 42 (Synapse: 500)",
    body: password({ identifier: 42, password: "wonderland" }),
    status: 400,
    answer: error("M_BAD_JSON", "'identifier' must be an object"),
  },
  {
    name: '8 identifier ["type"] (Synapse: 500)',
    body: password({ identifier: ["type"], password: "wonderland" }),
    status: 400,
    answer: error("M_BAD_JSON", "'identifier' must be an object"),
  },
  {
    name: "9 identifier null",
    body: password({ identifier: null, password: "wonderland" }),
    status: 400,
    answer: error("M_INVALID_PARAM", "Invalid login submission"),
  },
  {
    name: "10 identifier without type",
    body: password({ identifier: { user: "alice" }, password: "wonderland" }),
    status: 400,
    answer: error("M_MISSING_PARAM", "'identifier' dict has no key 'type'"),
  },
  {
    name: "11 identifier type m.id.foo",
    body: password({ identifier: { type: "m.id.foo", user: "alice" }, password: "wonderland" }),
    status: 400,
    answer: error("M_UNKNOWN", "Unknown login identifier type"),
  },
  {
    name: "12 identifier without user",
    body: password({ identifier: { type: "m.id.user" }, password: "wonderland" }),
    status: 400,
    answer: error("M_UNKNOWN", "User identifier is missing 'user' key"),
  },
  {
    name: "13 user a number (Synapse: 500)",
    body: password({ identifier: { type: "m.id.user", user: 42 }, password: "wonderland" }),
    status: 400,
    answer: error("M_BAD_JSON", "'user' must be a string"),
  },
  {
    name: "14 type a number",
    body: { type: 1, identifier: ALICE_ID, password: "wonderland" },
    status: 400,
    answer: error("M_INVALID_PARAM", "Bad parameter: type"),
  },
  {
    name: "15 unknown type m.login.pasword",
    body: { type: "m.login.pasword", identifier: ALICE_ID, password: "wonderland" },
    status: 400,
    answer: error("M_UNKNOWN", "Bad login type."),
  },
  {
    name: "18 m.login.application_service without a token",
    body: { type: "m.login.application_service", identifier: ALICE_ID },
    status: 401,
    answer: error("M_MISSING_TOKEN", "Missing access token"),
  },
  {
    name: "19 m.login.application_service with a bogus token",
    body: { type: "m.login.application_service", identifier: ALICE_ID },
    headers: { Authorization: "Bearer bogus-as-token" },
    status: 401,
    answer: error("M_UNKNOWN_TOKEN", "Invalid access token passed.", { soft_logout: false }),
  },
  {
    name: "20 refresh_token not a bool",
    body: password({ identifier: ALICE_ID, password: "wonderland", refresh_token: "yes" }),
    status: 400,
    answer: error("M_UNKNOWN", "`refresh_token` should be true or false."),
  },
  { name: "21 body not JSON", body: "this is not json", status: 400, answer: error("M_NOT_JSON", "Content not JSON.") },
  { name: "22 body an array", body: "[]", status: 400, answer: error("M_BAD_JSON", "Content must be a JSON object.") },
  { name: "23 body a string", body: '"x"', status: 400, answer: error("M_BAD_JSON", "Content must be a JSON object.") },
  { name: "24 empty body", body: "", status: 400, answer: error("M_NOT_JSON", "Content not JSON.") },
  {
    name: "25 wrong password",
    body: password({ identifier: ALICE_ID, password: "wrong-password" }),
    status: 403,
    answer: error("M_FORBIDDEN", "Invalid username or password"),
    asksHomeserver: true,
  },
  {
    name: "26 a user of another server",
    body: password({ identifier: { type: "m.id.user", user: "@alice:other.org" }, password: "wonderland" }),
    status: 403,
    answer: error("M_FORBIDDEN", "Invalid username or password"),
  },
  {
    name: "27 unknown user",
    body: password({ identifier: { type: "m.id.user", user: "nobody" }, password: "x" }),
    status: 403,
    answer: error("M_FORBIDDEN", "Invalid username or password"),
    asksHomeserver: true,
  },
  {
    name: "a query string changes nothing",
    path: `${V3}/login?x=1`,
    body: {},
    status: 400,
    answer: error("M_UNKNOWN", "Missing JSON keys."),
  },
];

const OTHER_ROWS: Row[] = [
  { name: "GET login flows", method: "GET", path: `${V3}/login`, status: 200, answer: { flows: [{ type: "m.login.password" }] } },
  { name: "HEAD login: the GET's headers, no body", method: "HEAD", path: `${V3}/login`, status: 200, answer: "" },
  ...["PUT", "DELETE"].map((method) => ({
    name: `${method} login: 405 as the spec says (Synapse 1.67: 400)`,
    method,
    path: `${V3}/login`,
    body: method === "PUT" ? {} : undefined,
    status: 405,
    answer: error("M_UNRECOGNIZED", "Unrecognized request"),
    answerHeaders: { allow: "GET, POST, HEAD, OPTIONS" },
  })),
  {
    name: "GET logout: 405 as the spec says (Synapse 1.67: 400)",
    method: "GET",
    path: `${V3}/logout`,
    status: 405,
    answer: error("M_UNRECOGNIZED", "Unrecognized request"),
    answerHeaders: { allow: "POST, OPTIONS" },
  },
  {
    name: "logout without a token",
    path: "/_matrix/client/r0/logout",
    body: {},
    status: 401,
    answer: error("M_MISSING_TOKEN", "Missing access token"),
  },
  {
    name: "logout with a bogus token",
    path: `${V3}/logout`,
    body: {},
    headers: { Authorization: "Bearer bogus-token" },
    status: 401,
    answer: error("M_UNKNOWN_TOKEN", "Invalid access token passed.", { soft_logout: false }),
  },
  {
    name: "logout with a bogus token in ?access_token=",
    path: `${V3}/logout?access_token=bogus-token`,
    body: {},
    status: 401,
    answer: error("M_UNKNOWN_TOKEN", "Invalid access token passed.", { soft_logout: false }),
  },
  {
    name: "logout with Authorization: Basic",
    path: `${V3}/logout`,
    body: {},
    headers: { Authorization: "Basic Zm9vOmJhcg==" },
    status: 401,
    answer: error("M_MISSING_TOKEN", "Invalid Authorization header."),
  },
  {
    name: "logout/all with a bogus token",
    path: `${V3}/logout/all`,
    body: {},
    headers: { Authorization: "Bearer bogus-token" },
    status: 401,
    answer: error("M_UNKNOWN_TOKEN", "Invalid access token passed.", { soft_logout: false }),
  },
  {
    name: "tokenrefresh on r0",
    path: "/_matrix/client/r0/tokenrefresh",
    body: {},
    status: 403,
    answer: error("M_FORBIDDEN", "tokenrefresh is no longer supported."),
  },
];

async function send(gw: TestGateway, row: Row) {
  const method = row.method ?? "POST";
  const headers: Record<string, string> = { ...row.headers };
  let body: string | undefined;
  if (row.body !== undefined) {
    body = typeof row.body === "string" ? row.body : JSON.stringify(row.body);
    headers["Content-Type"] = "application/json";
  }
  return gw.request(row.path ?? `${V3}/login`, { method, headers, body });
}

for (const [group, rows] of [
  ["POST …/login", LOGIN_ROWS],
  ["other requests", OTHER_ROWS],
] as const) {
  t.test(group, async (t) => {
    const gw = await startGateway(t);
    for (const row of rows) {
      const logins = gw.homeserver.logins.length;
      const reply = await send(gw, row);
      t.equal(reply.status, row.status, `${row.name}: status`);
      t.same(reply.body, row.answer, `${row.name}: body`);
      t.equal(reply.headers.get("content-type"), "application/json", `${row.name}: Content-Type`);
      t.equal(reply.headers.get("cache-control"), NO_CACHE, `${row.name}: Cache-Control as Synapse's`);
      for (const [name, value] of Object.entries({ ...CORS, ...row.answerHeaders })) {
        t.equal(reply.headers.get(name), value, `${row.name}: ${name}`);
      }
      if (!row.asksHomeserver) t.equal(gw.homeserver.logins.length, logins, `${row.name}: the homeserver was not asked`);
    }
    t.same(
      gw.homeserver.received.filter((r) => r.body.includes("m.login.application_service")),
      [],
      "no appservice login reached the homeserver",
    );
  });
}

t.test("registration refused: Synapse's words, after the body is read", async (t) => {
  const gw = await startGateway(t, { yaml: "registration: {enabled: false}" });
  const refused = await send(gw, { name: "", path: `${V3}/register`, body: {}, status: 403, answer: null });
  t.equal(refused.status, 403);
  t.same(refused.body, error("M_FORBIDDEN", "Registration has been disabled"));
  const guest = await send(gw, { name: "", path: `${V3}/register?kind=guest`, body: {}, status: 403, answer: null });
  t.equal(guest.status, 403, "a guest registration: Synapse's guest refusal");
  t.same(guest.body, error("M_UNKNOWN", "Guest access is disabled"));
  const broken = await send(gw, { name: "", path: `${V3}/register`, body: "nope", status: 400, answer: null });
  t.equal(broken.status, 400);
  t.same(broken.body, error("M_NOT_JSON", "Content not JSON."));
});

t.test("OPTIONS on any Matrix path: 204, no body, Content-Length: 0, the CORS headers, no Content-Type", async (t) => {
  const gw = await startGateway(t);
  for (const path of [
    `${V3}/login`,
    `${V3}/nonexistent`,
    `${V3}/account/whoami`,
    "/_matrix/media/v3/config",
    "/.well-known/matrix/client",
  ]) {
    for (const headers of [[], ["Origin", "https://app.example", "Access-Control-Request-Method", "POST"]]) {
      const reply = await rawRequest(gw, { method: "OPTIONS", path, headers });
      t.equal(reply.status, 204, `${path}: status`);
      t.equal(reply.body, "", `${path}: no body`);
      t.same(headerLines(reply, "content-length"), ["0"], `${path}: Content-Length: 0`);
      t.same(headerLines(reply, "content-type"), [], `${path}: no Content-Type`);
      for (const [name, value] of Object.entries(CORS)) t.same(headerLines(reply, name), [value], `${path}: ${name}`);
    }
  }
  t.same(gw.homeserver.received, [], "answered by the gateway");
});
