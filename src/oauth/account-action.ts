/**
 * What the account page is asked to show (MSC4191 "Account management deep-linking"): `action` and
 * `device_id` in its query. The stable names are the spec's (v1.15); MSC4191's earlier `session_*` names are
 * still sent by some clients. Anything else, or a device action without a device, shows the list.
 */
export type AccountAction = { kind: "list" } | { kind: "view"; deviceId: string } | { kind: "delete"; deviceId: string };

const VIEW = new Set(["org.matrix.device_view", "org.matrix.session_view"]);
const DELETE = new Set(["org.matrix.device_delete", "org.matrix.session_end"]);

export function readAccountAction(action: string | null, deviceId: string | null): AccountAction {
  if (action && deviceId) {
    if (VIEW.has(action)) return { kind: "view", deviceId };
    if (DELETE.has(action)) return { kind: "delete", deviceId };
  }
  return { kind: "list" };
}

/** The account page's query for `action`, in the stable names. */
export function accountQuery(action: AccountAction): string {
  if (action.kind === "list") return "";
  const name = action.kind === "view" ? "org.matrix.device_view" : "org.matrix.device_delete";
  return `?${new URLSearchParams({ action: name, device_id: action.deviceId })}`;
}
