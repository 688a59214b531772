/**
 * Auth decisions are made on the path the upstream will route (contract, namespaces paragraph;
 * security.md "path tricks"). isCanonicalPath refuses anything another server could read as a
 * different endpoint; compileEndpoints decides which endpoints are public.
 */
import fc from "fast-check";
import t from "tap";
import { DEFAULT_PUBLIC_ENDPOINTS } from "../../src/config/defaults.js";
import { isCanonicalPath } from "../../src/proxy/canonical-path.js";
import { compileEndpoints } from "../../src/proxy/endpoint-pattern.js";

const V3 = "/_matrix/client/v3";

t.test("refused paths", async (t) => {
  const refused: [string, string][] = [
    ["dot-dot segment", "/_matrix/client/../client/v3/account/whoami"],
    ["dot-dot climbing out of the namespace", `${V3}/../../../_synapse/admin/v1/users`],
    ["dot segment", `${V3}/./account/whoami`],
    ["trailing /..", `${V3}/account/whoami/..`],
    ["trailing /.", `${V3}/account/whoami/.`],
    ["%2e%2e", `${V3}/%2e%2e/account/whoami`],
    ["%2E%2E", `${V3}/%2E%2E/account/whoami`],
    ["%2E in a segment", `${V3}/account%2Ewhoami`],
    ["half-encoded .%2e", `${V3}/.%2e/account/whoami`],
    ["%2F", `${V3}/account%2Fwhoami`],
    ["%2f", `${V3}/account%2fwhoami`],
    ["%252F (double encoding)", `${V3}/account%252Fwhoami`],
    ["%25 alone (double encoding)", `${V3}/rooms/%2521abc`],
    ["%5C", `${V3}/account%5Cwhoami`],
    ["%5c", `${V3}/account%5cwhoami`],
    ["backslash", `${V3}/account\\whoami`],
    ["backslash dot-dot", `${V3}\\..\\account/whoami`],
    ["double slash", `/_matrix/client//v3/account/whoami`],
    ["leading double slash", `//_matrix/client/v3/account/whoami`],
    ["trailing double slash", `${V3}/account/whoami//`],
    [";param", `${V3}/account/whoami;x=1`],
    [";param on a middle segment", `/_matrix/client/v3;x/account/whoami`],
    ["%00", `${V3}/account/whoami%00`],
    ["raw NUL", `${V3}/account/whoami\u0000`],
    ["raw control char", `${V3}/account/\u0001whoami`],
    ["raw tab", `${V3}/account/\twhoami`],
    ["raw CR LF", `${V3}/account/whoami\r\nX-Injected: 1`],
    ["raw DEL", `${V3}/account/whoami\u007f`],
    ["raw space", `${V3}/account/who ami`],
    ["non-ASCII", `${V3}/rooms/é`],
    ["fullwidth solidus", `${V3}/account\uff0fwhoami`],
    ["bad escape %zz", `${V3}/rooms/%zz`],
    ["truncated escape %2", `${V3}/rooms/%2`],
    ["lone %", `${V3}/rooms/%`],
    ["escape with one hex digit then text", `${V3}/rooms/%2G`],
    ["fragment", `${V3}/account/whoami#frag`],
    ["question mark (a path never holds one)", `${V3}/account/whoami?x`],
    ["relative path", "_matrix/client/v3/account/whoami"],
    ["absolute form", "http://evil/_matrix/client/v3/account/whoami"],
    ["asterisk form", "*"],
    ["empty", ""],
  ];
  for (const [name, path] of refused) t.equal(isCanonicalPath(path), false, `${name}: ${JSON.stringify(path)}`);
});

t.test("accepted paths", async (t) => {
  const accepted: [string, string][] = [
    ["root", "/"],
    ["health", "/health"],
    ["whoami", `${V3}/account/whoami`],
    ["encoded room ID", `${V3}/rooms/%21room%3Aexample.org/messages`],
    ["raw room ID", `${V3}/rooms/!room:example.org/state`],
    ["user ID", `${V3}/profile/@alice:example.org/displayname`],
    ["encoded user ID", `${V3}/profile/%40alice%3Aexample.org`],
    ["event ID", `${V3}/rooms/%21room%3Aexample.org/event/$event`],
    ["encoded event ID", `${V3}/rooms/%21r%3Aexample.org/event/%24Ab-_cd`],
    ["room alias", `${V3}/directory/room/%23alias%3Aexample.org`],
    ["send with txn", `${V3}/rooms/%21r%3Aexample.org/send/m.room.message/m1700000000.0`],
    ["trailing slash", `${V3}/pushrules/`],
    ["seed prefix", "/_matrix/client/api/v1/rooms/%21r%3Aexample.org/messages"],
    ["media", "/_matrix/media/v3/download/example.org/AbCdEf123"],
    ["well-known", "/.well-known/matrix/client"],
    ["dots inside a segment are not dot segments", `${V3}/rooms/a..b/...`],
    ["sub-delims and unreserved", `${V3}/x/a-b_c~d.e!f$g&h'i(j)k*l+m,n=o:p@q`],
  ];
  for (const [name, path] of accepted) t.equal(isCanonicalPath(path), true, `${name}: ${path}`);
});

t.test("endpoint patterns: compile and match", async (t) => {
  const table: [string, string[], [string, string, boolean][]][] = [
    [
      "exact path",
      ["GET /_matrix/client/versions"],
      [
        ["GET", "/_matrix/client/versions", true],
        ["HEAD", "/_matrix/client/versions", true], // HEAD is allowed wherever GET is
        ["POST", "/_matrix/client/versions", false],
        ["OPTIONS", "/_matrix/client/versions", false],
        ["GET", "/_matrix/client/versions/", false],
        ["GET", "/_matrix/client/versionsX", false],
        ["GET", "/x/_matrix/client/versions", false],
      ],
    ],
    [
      "`*` is exactly one non-empty segment",
      ["GET /a/*/c"],
      [
        ["GET", "/a/b/c", true],
        ["GET", "/a/!room:example.org/c", true],
        ["GET", "/a/b/x/c", false],
        ["GET", "/a//c", false],
        ["GET", "/a/c", false],
      ],
    ],
    [
      "`/**` at the end is any rest, or none",
      ["GET /a/**"],
      [
        ["GET", "/a", true],
        ["GET", "/a/", true],
        ["GET", "/a/b", true],
        ["GET", "/a/b/c/d", true],
        ["GET", "/ab", false],
        ["GET", "/b/a", false],
      ],
    ],
    [
      "`{a,b}` alternatives, which may hold a slash",
      ["GET /_matrix/client/{api/v1,r0,v3}/publicRooms"],
      [
        ["GET", "/_matrix/client/api/v1/publicRooms", true],
        ["GET", "/_matrix/client/r0/publicRooms", true],
        ["GET", "/_matrix/client/v3/publicRooms", true],
        ["GET", "/_matrix/client/v1/publicRooms", false],
        ["GET", "/_matrix/client/{api/v1,r0,v3}/publicRooms", false],
        ["GET", "/_matrix/client/r0,v3/publicRooms", false],
      ],
    ],
    [
      "several methods; HEAD only through GET",
      ["GET,POST /x", "POST /y"],
      [
        ["GET", "/x", true],
        ["POST", "/x", true],
        ["HEAD", "/x", true],
        ["PUT", "/x", false],
        ["POST", "/y", true],
        ["HEAD", "/y", false],
        ["GET", "/y", false],
      ],
    ],
    [
      "regexp characters in a pattern are literal",
      ["GET /a.b/c+d"],
      [
        ["GET", "/a.b/c+d", true],
        ["GET", "/aXb/c+d", false],
        ["GET", "/a.b/ccd", false],
      ],
    ],
    ["no patterns match nothing", [], [["GET", "/", false]]],
  ];
  for (const [name, patterns, checks] of table) {
    const matcher = compileEndpoints(patterns);
    for (const [method, path, expected] of checks) t.equal(matcher.matches(method, path), expected, `${name}: ${method} ${path}`);
  }
});

/**
 * The definition isCanonicalPath's one-pass scan implements, written as the regular expressions it replaced on
 * the hot path: `/` then printable ASCII except space, `\\`, `;`, `#` (and `?`), no `//`, no `.`/`..` segment; with
 * a `%`, escapes that are well-formed hex, valid UTF-8 and never `.`, `/`, `\\`, `%` or NUL.
 */
function canonicalByRegex(path: string): boolean {
  if (!/^\/[!$&'()*+,\-./0-9:=@A-Z[\]_a-z~%]*$/.test(path) || path.includes("//") || /\/\.\.?(\/|$)/.test(path)) return false;
  if (!path.includes("%")) return true;
  if (/%(2e|2f|5c|25|00)/i.test(path) || /%(?![0-9A-Fa-f]{2})/.test(path)) return false;
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

t.test("the one-pass scan agrees with the regex definition on every path", async (t) => {
  const piece = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom("/", "a", "Z", "0", "~", "!r:x.org", "%41", "%C3%A9") },
    { weight: 2, arbitrary: fc.constantFrom("/.", "/..", "/...", "//", ".", "..") },
    { weight: 1, arbitrary: fc.constantFrom("%", "%2e", "%C0%AF", "%4", ";", "\\", "#", "?", " ", "é", "\u0000", "\u007f", "\uff0f") },
  );
  const path = fc.oneof(
    { weight: 4, arbitrary: fc.array(piece, { maxLength: 10 }).map((pieces) => `/${pieces.join("")}`) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  );
  let accepted = 0;
  fc.assert(
    fc.property(path, (candidate) => {
      const expected = canonicalByRegex(candidate);
      if (expected) accepted++;
      return isCanonicalPath(candidate) === expected;
    }),
    { numRuns: 20_000 },
  );
  t.ok(accepted > 500, `${accepted} of the random paths were canonical (the property is not vacuous)`);
  for (const edge of ["", "/", "/.", "/..", "/...", "/.a", "/a/.", "/a/..", "/a/.../b", "/a/./b", "a/b", "/a//b", "/%"]) {
    t.equal(isCanonicalPath(edge), canonicalByRegex(edge), JSON.stringify(edge));
  }
});

t.test("the default public endpoints", async (t) => {
  const matcher = compileEndpoints(DEFAULT_PUBLIC_ENDPOINTS);
  const checks: [string, string, boolean][] = [
    ["GET", "/_matrix/client/versions", true],
    ["GET", "/.well-known/matrix/client", true],
    ["GET", "/.well-known/matrix/server", true],
    ["POST", "/_matrix/client/v3/register", true],
    ["POST", "/_matrix/client/v3/register/email/requestToken", true],
    ["GET", "/_matrix/client/v3/publicRooms", true],
    ["GET", "/_matrix/client/r0/profile/@alice:example.org", true],
    ["GET", "/_matrix/client/v3/profile/@alice:example.org/displayname", true],
    ["GET", "/_matrix/media/v3/download/example.org/abc", true],
    ["HEAD", "/_matrix/client/versions", true],
    // protected
    ["PUT", "/_matrix/client/v3/profile/@alice:example.org/displayname", false],
    ["POST", "/_matrix/client/v3/publicRooms", false], // filtered room directory search needs a token
    ["GET", "/_matrix/client/v3/account/whoami", false],
    ["GET", "/_matrix/client/v3/sync", false],
    ["GET", "/_matrix/client/v3/publicRoomsX", false],
    ["GET", "/_matrix/client/versions/../v3/account/whoami", false],
    ["DELETE", "/_matrix/client/v3/devices/ABC", false],
    ["GET", "/_matrix/client/v1/media/download/example.org/abc", false], // authenticated media
  ];
  for (const [method, path, expected] of checks) t.equal(matcher.matches(method, path), expected, `${method} ${path}`);
});
