/**
 * `upstream_identity.register_users`: a user known only to the users file is registered on the
 * homeserver through the application-service API on first login (`m.login.application_service`,
 * `inhibit_login`), so that requests asserting that user are accepted. "Already exists" is success.
 */
import type { Logger } from "../observability/log.js";
import type { UpstreamClient } from "../upstream/client.js";
import { appserviceRefusal } from "./appservice-refusal.js";
import type { CredentialsSource } from "./upstream-login.js";

export function withAppserviceRegistration(
  source: CredentialsSource,
  upstream: UpstreamClient,
  asToken: string,
  logger: Logger,
): CredentialsSource {
  const registered = new Set<string>();
  return async (login) => {
    const verified = await source(login);
    if (registered.has(verified.userId)) return verified;
    const localpart = verified.userId.slice(1, verified.userId.indexOf(":"));
    const reply = await upstream.post(
      "/_matrix/client/v3/register",
      { type: "m.login.application_service", username: localpart, inhibit_login: true },
      asToken,
      login.clientAddress,
    );
    if (reply.status === 200 || reply.body.errcode === "M_USER_IN_USE") {
      registered.add(verified.userId);
      if (reply.status === 200)
        logger.info({ event: "appservice_registered", user_id: verified.userId }, "user registered on the homeserver");
      return verified;
    }
    throw appserviceRefusal(
      reply,
      verified.userId,
      logger,
      "registering the user on the homeserver",
      "The homeserver refused to register this user",
    );
  };
}
