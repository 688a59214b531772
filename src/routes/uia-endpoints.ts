/**
 * The client-server endpoints a homeserver puts behind user-interactive auth (spec, Client-Server API,
 * "User-interactive authentication API") and lets an application service call without it: Synapse's
 * `validate_user_via_ui_auth` returns at once for an appservice requester. In appservice identity mode the
 * gateway runs that auth itself before forwarding them (routes/appservice-uia.ts), or refuses them.
 *
 * Matched by endpoint, deny by default: whatever stands between `/_matrix/client/` and it (`r0`, `v3`,
 * `unstable`, `v1`, `api/v1`, a vendor-prefixed unstable segment, a future one), with or without a trailing
 * slash, in any letter case and with percent-escaped letters decoded. A spelling that a homeserver would
 * not route costs only a needless password prompt; one it would route can never skip the prompt.
 */

export interface FencedEndpoint {
  /** `METHOD endpoint`, for the log. */
  name: string;
  /**
   * `authenticate`: the gateway's own UIA, then forwarded as the appservice. `refuse`: `403 M_FORBIDDEN`
   * without reaching the homeserver (the password lives in the operator's users file).
   */
  action: "authenticate" | "refuse";
  /** A `200` means the account is gone: every gateway session of the user ends with it. */
  endsSessions: boolean;
}

interface Row extends FencedEndpoint {
  method: "POST" | "DELETE";
  /** The path after the version segment, as a regular expression. */
  endpoint: string;
}

const row = (method: Row["method"], endpoint: string, action: Row["action"] = "authenticate", endsSessions = false): Row => ({
  method,
  endpoint,
  name: `${method} ${endpoint.replace("[^/]*", "{deviceId}")}`,
  action,
  endsSessions,
});

/** Every endpoint the spec marks as using UIA for an authenticated user (registration has no user yet). */
const FENCED: Row[] = [
  row("POST", "account/password", "refuse"),
  row("POST", "account/deactivate", "authenticate", true),
  row("POST", "delete_devices"),
  // Synapse routes an empty device id too (`devices/(?P<device_id>[^/]*)$`).
  row("DELETE", "devices/[^/]*"),
  row("POST", "account/3pid/add"),
  row("POST", "account/3pid/bind"),
  row("POST", "account/3pid/delete"),
  row("POST", "account/3pid/unbind"),
  // The legacy form of 3pid/add and 3pid/bind (r0), still routed by Synapse.
  row("POST", "account/3pid"),
  row("POST", "keys/device_signing/upload"),
];

/** Compiled once: per method, each endpoint after any number of version segments. */
const BY_METHOD = new Map<string, { pattern: RegExp; endpoint: FencedEndpoint }[]>();
for (const { method, endpoint, name, action, endsSessions } of FENCED) {
  const list = BY_METHOD.get(method) ?? [];
  list.push({ pattern: new RegExp(`^/_matrix/client/(?:[^/]+/)*${endpoint}/?$`, "i"), endpoint: { name, action, endsSessions } });
  BY_METHOD.set(method, list);
}

/** The fenced endpoint `method path` is, if any. Other methods return at once: GET and PUT pay one map lookup. */
export function fencedEndpoint(method: string, path: string): FencedEndpoint | undefined {
  const candidates = BY_METHOD.get(method);
  if (candidates === undefined) return undefined;
  const decoded = path.includes("%") ? decodePath(path) : path;
  for (const { pattern, endpoint } of candidates) if (pattern.test(decoded)) return endpoint;
  return undefined;
}

/** `account/p%61ssword` is `account/password` to a homeserver that decodes before routing. */
function decodePath(path: string): string {
  try {
    // The path is canonical (proxy/canonical-path.ts): no escape decodes to `/`, `.` or `%`.
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
