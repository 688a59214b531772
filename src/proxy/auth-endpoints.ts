/**
 * Deny by default for the endpoints that hand out or end credentials: `login`, `register`, `refresh`,
 * `tokenrefresh`, `logout` (and `logout/all`) belong to the gateway under *every* version segment of
 * `/_matrix/client/` — `r0`, `v3`, `v1`, `api/v1`, `unstable`, a vendor-prefixed unstable segment such as
 * `unstable/org.matrix.msc2918.refresh_token`, `v2_alpha`, or one not invented yet. The spellings the
 * gateway serves are an exact table (router.ts); every other spelling of these endpoints — another
 * version, a trailing slash, a percent-encoded letter, another case, a sub-path — is refused here and
 * never proxied, unless it is a sub-path known to return no credential (the allow-list below).
 *
 * The endpoint is found as a homeserver could read it: segments percent-decoded and lower-cased (Synapse
 * matches the raw path case-sensitively, but another homeserver may not), and looked for right after the
 * version, which is one segment, or two when it is `api/…`, `unstable/…` or a vendor prefix (a segment
 * with a dot). Any of those positions counts: a position too many only ever refuses a path that no
 * homeserver serves.
 */
import { MatrixError, unrecognized } from "../http/errors.js";

const CLIENT_PREFIX = "/_matrix/client/";

/** The endpoints that create or end credentials. `tokenrefresh` matches as a prefix, as Synapse's own pattern does. */
const AUTH_ROOTS = new Set(["login", "register", "refresh", "logout"]);
const TOKENREFRESH = "tokenrefresh";

/**
 * Cheap first look, on the raw path: every spelling of an auth endpoint either contains one of these
 * letters runs or an escape (`%`). Nearly every request fails this test and skips the decoding below.
 */
const MAY_BE_AUTH = /login|regist|refresh|logout|%/i;

/**
 * Sub-paths of the auth endpoints that return no credential and keep passing through to the homeserver
 * (matched on the raw path, exactly as the homeserver's own routes are written; `*` = one segment, a
 * trailing `…` = any rest, as Synapse's patterns without `$`). Anything else under these endpoints is refused.
 */
const PASSING_SUB_PATHS: { root: string; rest: RegExp }[] = [
  // SSO and CAS redirects: the browser is sent to the identity provider; the login ends with m.login.token.
  { root: "login", rest: /^sso\/redirect(\/[A-Za-z0-9_.~-]+)?$/ },
  { root: "login", rest: /^cas\/(redirect|ticket)/ },
  // MSC3882 "sign in with another device": returns a one-time login token for POST /login, not an access token.
  { root: "login", rest: /^get_token$/ },
  { root: "login", rest: /^token$/ },
  // Username availability and registration-token validity (Synapse's patterns have no `$`).
  { root: "register", rest: /^available/ },
  { root: "register", rest: /^m\.login\.registration_token\/validity/ },
  { root: "register", rest: /^org\.matrix\.msc3231\.login\.registration_token\/validity/ },
  // Third-party identifier validation for a registration in progress.
  { root: "register", rest: /^(email|msisdn)\/requestToken$/ },
];

/** Spellings of `tokenrefresh` that Synapse answers with its own refusal (`{unstable,r0,v3}/tokenrefresh…`). */
const SYNAPSE_TOKENREFRESH = /^\/_matrix\/client\/(unstable|r0|v3)\/tokenrefresh/;

/** A sub-path of an auth endpoint that passes (its answer is still inspected for a credential, whatever the method). */
export const PASSING_SUB_PATH = "passing-sub-path";

/**
 * What `path` (canonical, without the query) is: `undefined` when it is no auth endpoint at all,
 * `PASSING_SUB_PATH` for an allowed sub-path, otherwise the error to answer with. The gateway's own
 * spellings are looked up before this is asked.
 */
export function classifyAuthPath(path: string): MatrixError | typeof PASSING_SUB_PATH | undefined {
  if (!path.startsWith(CLIENT_PREFIX) || !MAY_BE_AUTH.test(path)) return undefined;
  const raw = path.slice(CLIENT_PREFIX.length).split("/");
  const segments = raw.map(readSegment);
  for (const at of endpointPositions(segments)) {
    if (at >= segments.length) break;
    const root = segments[at] as string;
    if (root.startsWith(TOKENREFRESH)) {
      return SYNAPSE_TOKENREFRESH.test(path) ? new MatrixError(403, "M_FORBIDDEN", "tokenrefresh is no longer supported.") : unrecognized();
    }
    if (!AUTH_ROOTS.has(root)) continue;
    // The raw spelling must be exactly the endpoint's for a sub-path to pass: `Login/sso/redirect` does not.
    if (raw[at] === root && at + 1 < raw.length && isPassingSubPath(root, raw.slice(at + 1).join("/"))) return PASSING_SUB_PATH;
    return unrecognized();
  }
  return undefined;
}

/** Where the endpoint may stand: after no version, after a one-segment version, or after a two-segment one. */
function endpointPositions(segments: string[]): number[] {
  const first = segments[0] ?? "";
  const second = segments[1] ?? "";
  const twoSegmentVersion = first === "api" || first === "unstable" || second.includes(".");
  return twoSegmentVersion ? [0, 1, 2] : [0, 1];
}

function isPassingSubPath(root: string, rest: string): boolean {
  for (const allowed of PASSING_SUB_PATHS) if (allowed.root === root && allowed.rest.test(rest)) return true;
  return false;
}

/** A segment as a lenient homeserver might read it: escapes decoded (the path is canonical: they are valid), any case. */
function readSegment(segment: string): string {
  if (!segment.includes("%")) return segment.toLowerCase();
  try {
    return decodeURIComponent(segment).toLowerCase();
  } catch {
    return segment.toLowerCase();
  }
}
