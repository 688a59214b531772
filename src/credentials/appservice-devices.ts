/**
 * `upstream_identity.devices`: once the users file (and `register_users`) accepted a login, the gateway
 * logs the user in at the homeserver as the application service (Matrix spec, Client-Server API,
 * "Appservice Login": `m.login.application_service` with the `as_token`). The homeserver creates a device
 * and an access token for it, which become the session's upstream credential — so each gateway session is
 * a homeserver device, as in `session_token` mode, and end-to-end encryption works.
 */
import type { Logger } from "../observability/log.js";
import type { UpstreamClient } from "../upstream/client.js";
import { appserviceRefusal } from "./appservice-refusal.js";
import type { CredentialsSource } from "./upstream-login.js";

export function withAppserviceDevices(
  source: CredentialsSource,
  upstream: UpstreamClient,
  asToken: string,
  logger: Logger,
): CredentialsSource {
  return async (login) => {
    const verified = await source(login);
    const body: Record<string, unknown> = {
      type: "m.login.application_service",
      identifier: { type: "m.id.user", user: verified.userId },
    };
    // The client's own choices, not the users file's stand-in device id: the homeserver picks one when absent.
    if (login.deviceId !== undefined) body.device_id = login.deviceId;
    if (login.initialDeviceDisplayName !== undefined) body.initial_device_display_name = login.initialDeviceDisplayName;
    const reply = await upstream.post("/_matrix/client/v3/login", body, asToken, login.clientAddress);
    const { user_id, access_token, device_id } = reply.body;
    if (reply.status === 200 && user_id === verified.userId && typeof access_token === "string" && typeof device_id === "string") {
      return { userId: verified.userId, deviceId: device_id, upstreamToken: access_token };
    }
    throw appserviceRefusal(
      reply,
      verified.userId,
      logger,
      "logging the user in at the homeserver through the appservice",
      "The homeserver refused to log this user in for the gateway",
    );
  };
}
