/**
 * Property tests (fast-check) for the parsers an attacker feeds directly: where the token is read
 * from (extractToken), which paths are canonical (isCanonicalPath), the config file (parseConfig),
 * and the whole gateway end to end. The example tables live in test/auth/extract-token.test.ts,
 * test/proxy/canonical-path.test.ts and test/config/load.test.ts; these look for what the tables missed.
 * Every run is seeded from fast-check's default (a failure prints its seed and shrunk counterexample).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: YAML texts contain literal ${ENV} references
import http from "node:http";
import fc from "fast-check";
import t from "tap";
import { extractToken } from "../../src/auth/extract-token.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { MatrixError } from "../../src/http/errors.js";
import { isCanonicalPath } from "../../src/proxy/canonical-path.js";
import { compileEndpoints } from "../../src/proxy/endpoint-pattern.js";
import { startGateway } from "../helpers/gateway.js";
import { ACCESS_TOKEN_NAMES, upstreamTokenOf } from "../helpers/session-api.js";

/** A query parameter name as a query parser (the gateway's, the homeserver's) decodes it. */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, " "));
  } catch {
    return name;
  }
}
/** The parameters as the homeserver splits them: Synapse (Twisted) on `&` and `;` alike. */
const queryParams = (url: string) => {
  const at = url.indexOf("?");
  return at === -1 ? [] : url.slice(at + 1).split(/[&;]/);
};
const nameOf = (param: string) => (param.includes("=") ? param.slice(0, param.indexOf("=")) : param);

t.test("extractToken: only MatrixErrors, and no access_token parameter is ever forwarded", async (t) => {
  const name = fc.oneof(
    fc.constantFrom(
      ...ACCESS_TOKEN_NAMES,
      // near misses: other case, `+`, a broken or double escape, spaces, and other names
      "Access_token",
      "access+token",
      "access_token%",
      "access%255Ftoken",
      "access_token ",
      "%",
      "%zz",
      "%C3",
      "",
      "a",
      "dir",
    ),
    fc.string({ maxLength: 12 }),
  );
  const value = fc.oneof(fc.constantFrom("", "tok", "%", "%zz", "a%2Eb", "%E0%A4%A", "+", "a=b"), fc.string({ maxLength: 12 }));
  const param = fc.tuple(name, fc.boolean(), value).map(([n, hasValue, v]) => (hasValue ? `${n}=${v}` : n));
  const url = fc.oneof(
    fc
      .tuple(fc.constantFrom("/_matrix/client/v3/account/whoami", "/p", "/"), fc.array(param, { maxLength: 6 }), fc.constantFrom("&", ";"))
      .map(([path, params, separator]) => (params.length ? `${path}?${params.join(separator)}` : path)),
    fc.string({ maxLength: 40 }),
  );
  const header = fc.tuple(
    fc.constantFrom("Authorization", "authorization", "AUTHORIZATION", "X-Other"),
    fc.oneof(
      fc.constantFrom("Bearer tok", "bearer tok", "Basic YTpi", "Bearer", "Bearer a b", "", "Bearer  tok "),
      fc.string({ maxLength: 12 }),
    ),
  );

  let forwarded = 0;
  fc.assert(
    fc.property(url, fc.array(header, { maxLength: 3 }), (u, pairs) => {
      const raw = pairs.flat();
      const headers: Record<string, string> = {};
      for (const [n, v] of pairs) headers[n.toLowerCase()] ??= v; // node:http keeps the first Authorization
      let result: ReturnType<typeof extractToken>;
      try {
        result = extractToken(u, headers, raw);
      } catch (error) {
        if (!(error instanceof MatrixError)) throw error;
        if (error.status !== 401 || error.errcode !== "M_MISSING_TOKEN") throw new Error(`unexpected ${error.status} ${error.errcode}`);
        return;
      }
      forwarded++;
      const kept = queryParams(result.forwardUrl);
      const leaked = kept.filter((p) => decodedName(nameOf(p)) === "access_token");
      if (leaked.length) throw new Error(`forwarded ${JSON.stringify(leaked)}`);
      // Everything else passes byte for byte, in order.
      const expected = queryParams(u).filter((p) => decodedName(nameOf(p)) !== "access_token");
      if (result.forwardUrl.split("?")[0] !== u.split("?")[0]) throw new Error("the path changed");
      if (JSON.stringify(kept) !== JSON.stringify(expected) && !(kept.length === 0 && expected.length === 1 && expected[0] === ""))
        throw new Error(`other parameters changed: ${JSON.stringify(kept)} vs ${JSON.stringify(expected)}`);
    }),
    { numRuns: 3000 },
  );
  t.ok(forwarded > 500, `${forwarded} of 3000 random requests were forwardable (the property is not vacuous)`);
});

t.test("isCanonicalPath: an accepted path has one meaning", async (t) => {
  const piece = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom("_matrix", "client", "v3", "account", "whoami", "a", "b", "rooms", "!r:example.org", "@alice:x"),
    },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        "/",
        "//",
        ".",
        "..",
        "...",
        "%2e",
        "%2E",
        "%2e%2e",
        "%2f",
        "%2F",
        "%5c",
        "%5C",
        "%25",
        "%252F",
        "%41",
        "%7e",
        "%C3%A9",
        "%C3",
        "%C0%AF",
        "%C0%AE",
        "%E0%80%AF",
        "%ED%A0%80",
        "%F4%90%80%80",
        "%",
        "%z",
        "%2",
        "\\",
        ";",
        "?",
        "#",
        " ",
        "\t",
        "\u0000",
        "é",
        "~",
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
  );
  const path = fc.tuple(fc.boolean(), fc.array(piece, { maxLength: 10 })).map(([slash, pieces]) => (slash ? "/" : "") + pieces.join(""));

  let accepted = 0;
  fc.assert(
    fc.property(path, (p) => {
      if (!isCanonicalPath(p)) return;
      accepted++;
      const segments = p.split("/").slice(1);
      if (!p.startsWith("/")) throw new Error("not absolute");
      if (p.includes("//")) throw new Error("empty segment");
      if (p.includes("\\")) throw new Error("backslash");
      if (/%(2f|2e|5c|25)/i.test(p)) throw new Error("an encoded slash, dot, backslash or percent");
      if (segments.some((s) => s === "." || s === "..")) throw new Error("a dot segment");
      // Decoding each segment (as the upstream will) neither fails nor creates segments or dot segments.
      const decoded = segments.map((s) => decodeURIComponent(s));
      const again = decoded.join("/").split("/");
      if (again.length !== segments.length) throw new Error(`decodes to ${again.length} segments instead of ${segments.length}`);
      if (decoded.some((s) => s === "." || s === "..")) throw new Error("decodes to a dot segment");
    }),
    { numRuns: 5000 },
  );
  t.ok(accepted > 500, `${accepted} of 5000 random paths were accepted (the property is not vacuous)`);
});

t.test("parseConfig: any text is a Config or a ConfigError, never anything else", async (t) => {
  const minimal = [
    "server_name: example.org",
    "jwt:",
    "  secret: 0123456789abcdef0123456789abcdef",
    "listen: {host: 127.0.0.1, port: 8080}",
    "store: {type: memory}",
    "tokens:",
    "  access_ttl: 5m",
    "  refresh_reuse_grace: 30s",
    "rate_limits: {enabled: true, login: {per_address: {points: 3, duration: 1m}}}",
    "trusted_proxies: [10.0.0.0/8]",
    "http: {max_body: 1MiB}",
  ];
  const file = "/nonexistent-dir-for-property-tests/gw.yaml";
  const check = (text: string) => {
    try {
      parseConfig(text, file, { env: {} });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (!error.problems.length) throw new Error("a ConfigError without problems");
      for (const line of error.message.split("\n")) {
        if (!line.startsWith(`${file}:`) || !/^[^:]+:\d+:\d+: /.test(line)) throw new Error(`badly formatted: ${line}`);
      }
    }
  };
  t.doesNotThrow(() => parseConfig(minimal.join("\n"), file, { env: {} }), "the file mutated below is valid");

  // Random YAML-ish text.
  const yamlish = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          "server_name: ",
          "jwt:",
          "  secret: ",
          "keys:",
          "- ",
          "  - kid: a",
          "{",
          "}",
          "[",
          "]",
          ",",
          ": ",
          "\n",
          "\n  ",
          "&a ",
          "*a",
          "!!binary ",
          "!!str ",
          "!custom ",
          "<<: ",
          "? ",
          "|\n  ",
          ">-\n  ",
          "'",
          '"',
          "#",
          "---\n",
          "...\n",
          "${X}",
          "__proto__: ",
          "constructor: ",
          "~",
          "null",
          "1e400",
          "-0",
          "0x1F",
          ".inf",
          "5m",
          "99999999999999999999",
          "\t",
          "\u0000",
          "\ufeff",
        ),
        fc.string({ maxLength: 6 }),
      ),
      { maxLength: 30 },
    )
    .map((parts) => parts.join(""));
  fc.assert(fc.property(yamlish, check), { numRuns: 1500 });

  // Small mutations of the valid file: each result must still be judged cleanly.
  const mutation = fc.oneof(
    fc.tuple(fc.constant("delete-char" as const), fc.nat(), fc.constant("")),
    fc.tuple(
      fc.constant("insert" as const),
      fc.nat(),
      fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom(":", "- ", "\n", "  ", "{", "[", "&a", "*a", "${Y}", "#")),
    ),
    fc.tuple(fc.constant("drop-line" as const), fc.nat(), fc.constant("")),
    fc.tuple(fc.constant("repeat-line" as const), fc.nat(), fc.constant("")),
    fc.tuple(
      fc.constant("replace-value" as const),
      fc.nat(),
      fc.oneof(
        fc.constantFrom("", "-1", "0", "1e400", "null", "[]", "{}", "yes", "5 minutes", "~", "*x", "0.5s", "9999999d", "'x'"),
        fc.string({ maxLength: 8 }),
      ),
    ),
  );
  const mutate = (lines: string[], [kind, at, text]: [string, number, string]): string[] => {
    const out = [...lines];
    const i = at % out.length;
    const line = out[i] as string;
    const col = line.length ? at % line.length : 0;
    if (kind === "delete-char") out[i] = line.slice(0, col) + line.slice(col + 1);
    if (kind === "insert") out[i] = line.slice(0, col) + text + line.slice(col);
    if (kind === "drop-line") out.splice(i, 1);
    if (kind === "repeat-line") out.splice(i, 0, line);
    if (kind === "replace-value") out[i] = line.includes(":") ? `${line.slice(0, line.indexOf(":") + 1)} ${text}` : text;
    return out;
  };
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (steps) => check(steps.reduce(mutate, minimal).join("\n"))),
    { numRuns: 1500 },
  );

  // Found by the properties above: yaml throws ReferenceError for these, which used to escape parseConfig.
  const problemsOf = (text: string) => {
    try {
      parseConfig(text, "gw.yaml", { env: {} });
    } catch (error) {
      return error instanceof ConfigError ? { problems: error.problems, message: error.message } : String(error);
    }
    return "accepted";
  };
  t.same(problemsOf("*a"), {
    problems: [{ line: 1, col: 1, path: "", message: "Unresolved alias (the anchor must be set before the alias): a" }],
    message: "gw.yaml:1:1: (root): Unresolved alias (the anchor must be set before the alias): a",
  });
  t.match(
    problemsOf("? server_name: x\n"),
    { message: /^gw\.yaml:1:1: \{ server_name: x \}: unknown key "\{ server_name: x \}"$/m },
    "a collection key prints on one line",
  );

  // A billion-laughs alias bomb is a config problem, not a crash or a hang.
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
  ];
  t.match(problemsOf([...minimal, ...bomb].join("\n")), {
    problems: [{ line: 1, col: 1, path: "", message: "Excessive alias count indicates a resource exhaustion attack" }],
  });
});

t.test("end to end: random requests never get a 5xx, and nothing unauthenticated reaches a protected endpoint", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  const upstreamToken = upstreamTokenOf(gw.homeserver, login.device_id);
  const jwt = login.access_token as string;
  const isPublic = compileEndpoints(gw.config.public_endpoints);
  const port = Number(new URL(gw.url).port);

  // Real endpoints (never logout: it would end the session under test), then a few tricks spliced in.
  const endpoint = fc.constantFrom(
    "/_matrix/client/v3/account/whoami",
    "/_matrix/client/r0/account/whoami",
    "/_matrix/client/api/v1/account/whoami",
    "/_matrix/client/v3/publicRooms",
    "/_matrix/client/versions",
    "/_matrix/client/v3/profile/@alice:example.org",
    "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/t1",
    "/_matrix/client/v3/user/@alice:example.org/filter",
    "/_matrix/client/v3/sync",
    "/_matrix/client/v3/register",
    "/_matrix/client/v3/login",
    "/_matrix/client/v3/refresh",
    "/_matrix/client/v1/media/download/example.org/abc",
    "/_matrix/media/v3/upload",
    "/_matrix/media/v3/download/example.org/abc",
    "/.well-known/matrix/client",
    "/.well-known/jwks.json",
    "/_matrix/federation/v1/version",
    "/health",
  );
  const trick = fc.oneof(
    fc.constantFrom(
      "..",
      ".",
      "%2e%2e",
      "%2F",
      "%252F",
      "",
      "\\",
      ";x=1",
      "WHOAMI",
      "V3",
      "versions",
      "publicRooms",
      "%00",
      "%41",
      "%C0%AF",
      "a..b",
    ),
    fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,6}$/),
  );
  const edit = fc.tuple(fc.constantFrom("insert", "replace", "append"), fc.nat(), trick);
  const edits = fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 1, arbitrary: fc.array(edit, { minLength: 1, maxLength: 2 }) },
  );
  const path = fc.tuple(endpoint, edits).map(([base, edits]) => {
    const segments = base.split("/");
    for (const [kind, at, piece] of edits) {
      const i = 1 + (at % (segments.length - 1));
      if (kind === "insert") segments.splice(i, 0, piece);
      if (kind === "replace") segments[i] = piece;
      if (kind === "append") segments[i] += piece;
    }
    return segments.join("/");
  });
  const someQuery = fc.array(
    fc.oneof(
      fc.constantFrom(
        `access_token=${jwt}`,
        `access%5Ftoken=${jwt}`,
        `%61ccess_token=${jwt}`,
        "access_token=garbage",
        "access_token=",
        "timeout=0",
        "x=%0D%0A",
        "a=1",
      ),
      fc.stringMatching(/^[A-Za-z0-9._~%=&+-]{0,8}$/),
    ),
    { minLength: 1, maxLength: 3 },
  );
  const query = fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: someQuery });
  // Mostly the session's real token, so that requests do reach the homeserver and the property is not vacuous.
  const authorization = fc.oneof(
    { weight: 3, arbitrary: fc.constant<string | string[] | undefined>(`Bearer ${jwt}`) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<string | string[] | undefined>(
        undefined,
        "Bearer garbage",
        `bearer ${jwt}`,
        "Basic YTpi",
        `Bearer ${jwt}x`,
        [`Bearer ${jwt}`, `Bearer ${jwt}`],
      ),
    },
  );
  const extra = fc.record(
    {
      "x-forwarded-for": fc.constantFrom("6.6.6.6", "127.0.0.1, 6.6.6.6", "garbage"),
      connection: fc.constantFrom("close, Authorization", "keep-alive, X-Forwarded-For"),
      "x-request-id": fc.constantFrom("abc", "a b", "%0D%0A"),
      "content-type": fc.constantFrom("application/json", "text/plain"),
    },
    { requiredKeys: [] },
  );
  const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH");

  const send = (m: string, target: string, headers: http.OutgoingHttpHeaders, body: string | undefined) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: m, path: target, headers, agent: false });
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(body);
    });

  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(
      method,
      path,
      query,
      authorization,
      extra,
      fc.option(fc.constantFrom("{}", '{"a":1}', "not json")),
      async (m, p, q, auth, hdrs, body) => {
        const target = q.length ? `${p}?${q.join("&")}` : p;
        const headers: http.OutgoingHttpHeaders = { ...hdrs };
        if (auth !== undefined) (headers as Record<string, string | string[]>).authorization = auth;
        const mark = gw.homeserver.received.length;
        // Node's client frames a body (chunked) only for POST, PUT and PATCH; unframed bodies are http.test.ts's business.
        const status = await send(m, target, headers, ["POST", "PUT", "PATCH"].includes(m) ? (body ?? undefined) : undefined);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) throw new Error(`${m} ${target}: ${status}`);
        for (const r of gw.homeserver.received.slice(mark)) {
          const forwardedPath = r.url.split("?")[0] as string;
          if (r.url.includes(jwt) || r.rawHeaders.some((h) => h.includes(jwt))) throw new Error(`the JWT reached the homeserver: ${r.url}`);
          if (isPublic.matches(r.method, forwardedPath)) continue;
          // The gateway's own calls (GET …/login reads the homeserver's login flows) carry no X-Request-Id; every
          // forwarded client request does (proxy/forward.ts).
          if (r.headers["x-request-id"] === undefined && r.method === "GET" && r.url === "/_matrix/client/v3/login") continue;
          if (r.headers.authorization !== `Bearer ${upstreamToken}`) {
            throw new Error(`${r.method} ${r.url} reached the homeserver without the session's credential`);
          }
        }
      },
    ),
    { numRuns: 200 },
  );
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  t.ok((statuses.get(200) ?? 0) > 10, "some random requests were forwarded and answered");
  t.ok(
    [...statuses.keys()].some((s) => s === 401),
    "some were refused for their token",
  );
  t.ok(gw.homeserver.received.length >= 20, `${gw.homeserver.received.length} requests reached the homeserver`);
  t.equal((await gw.request("/health")).status, 200, "the gateway is still up");
});
