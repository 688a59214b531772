/** Builds the credentials source the config names (`credentials.source`). */
import type { Config } from "../config/schema.js";
import type { Logger } from "../observability/log.js";
import type { UpstreamClient } from "../upstream/client.js";
import { withAppserviceDevices } from "./appservice-devices.js";
import { withAppserviceRegistration } from "./appservice-registration.js";
import { type CredentialsSource, createUpstreamLogin } from "./upstream-login.js";
import { openUsersFile, type PasswordCheck } from "./users-file.js";

export interface Credentials {
  source: CredentialsSource;
  /**
   * The users file's password check alone (`users_file` only): unlike `source`, which with `devices` also
   * logs a new device in at the homeserver, it only says whether the password is right.
   */
  checkPassword?: PasswordCheck;
  close(): void;
}

export function createCredentials(config: Config, upstream: UpstreamClient, logger: Logger): Credentials {
  if (config.credentials.source === "upstream") return { source: createUpstreamLogin(upstream), close() {} };
  const usersFile = openUsersFile(config.credentials.users_file as string, config.server_name, logger);
  const { register_users, devices, as_token } = config.upstream_identity;
  // Password check, then (optionally) the account at the homeserver, then (optionally) a device there.
  let source = usersFile.source;
  if (register_users) source = withAppserviceRegistration(source, upstream, as_token as string, logger);
  if (devices) source = withAppserviceDevices(source, upstream, as_token as string, logger);
  return { source, checkPassword: usersFile.checkPassword, close: usersFile.close };
}

export type { CredentialsSource } from "./upstream-login.js";
export type { PasswordCheck } from "./users-file.js";
