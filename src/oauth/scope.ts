/**
 * The scope of a Matrix OAuth 2.0 login (MSC2967, spec v1.15 "Scope values"): access to the client-server API
 * (`…:api:*`, required), exactly one device (`…:device:<id>`), and optionally `openid` (an ID token). Both the
 * stable prefix and MSC2967's unstable one are accepted, mixed as the client likes: matrix-js-sdk 37 and
 * matrix-rust-sdk still send the unstable one. Anything else is `invalid_scope` (RFC 6749 §4.1.2.1).
 */

const PREFIXES = ["urn:matrix:client:", "urn:matrix:org.matrix.msc2967.client:"];
/** The spec's device ID alphabet: RFC 3986 unreserved characters. */
const DEVICE_ID = /^[A-Za-z0-9._~-]+$/;

export interface MatrixScope {
  /** The device the login creates or takes over on the homeserver. */
  deviceId: string;
  /** `openid` was asked for: the token endpoint adds an ID token. */
  openid: boolean;
  /** The scope as granted: the requested tokens, each once, in the client's order and spelling. */
  normalized: string;
}

/**
 * Reads a `scope` parameter; `undefined` when it is not a valid Matrix scope. RFC 6749 §3.3: a space-delimited
 * set of case-sensitive tokens, so a token named twice is the same token, and order carries no meaning.
 */
export function parseScope(scope: string | undefined): MatrixScope | undefined {
  if (scope === undefined) return undefined;
  const tokens = [...new Set(scope.split(" ").filter((token) => token !== ""))];
  let api = false;
  let openid = false;
  const devices = new Set<string>();
  for (const token of tokens) {
    if (token === "openid") {
      openid = true;
      continue;
    }
    const rest = withoutPrefix(token);
    if (rest === "api:*") api = true;
    else if (rest?.startsWith("device:") && DEVICE_ID.test(rest.slice("device:".length))) devices.add(rest.slice("device:".length));
    else return undefined;
  }
  // The same device under both prefixes is one device; two different ones are a doubled device.
  if (!api || devices.size !== 1) return undefined;
  return { deviceId: [...devices][0] as string, openid, normalized: tokens.join(" ") };
}

function withoutPrefix(token: string): string | undefined {
  for (const prefix of PREFIXES) if (token.startsWith(prefix)) return token.slice(prefix.length);
  return undefined;
}
