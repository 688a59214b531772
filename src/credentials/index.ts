/** Builds the credentials source the config names (`credentials.source`). */
import type { Config } from "../config/schema.js";
import type { Logger } from "../observability/log.js";
import type { UpstreamClient } from "../upstream/client.js";
import { withAppserviceRegistration } from "./appservice-registration.js";
import { type CredentialsSource, createUpstreamLogin } from "./upstream-login.js";
import { openUsersFile } from "./users-file.js";

export interface Credentials {
  source: CredentialsSource;
  close(): void;
}

export function createCredentials(config: Config, upstream: UpstreamClient, logger: Logger): Credentials {
  if (config.credentials.source === "upstream") return { source: createUpstreamLogin(upstream), close() {} };
  const usersFile = openUsersFile(config.credentials.users_file as string, config.server_name, logger);
  const { register_users, as_token } = config.upstream_identity;
  const source = register_users ? withAppserviceRegistration(usersFile.source, upstream, as_token as string, logger) : usersFile.source;
  return { source, close: usersFile.close };
}

export type { CredentialsSource } from "./upstream-login.js";
