/** What the route handlers share, built once by `gateway.ts`. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SessionService } from "../auth/sessions.js";
import type { Config } from "../config/schema.js";
import type { CredentialsSource } from "../credentials/upstream-login.js";
import type { TrustedProxies } from "../http/client-address.js";
import type { Logger } from "../observability/log.js";
import type { Forwarder } from "../proxy/forward.js";
import type { UpstreamClient } from "../upstream/client.js";

export interface RouteContext {
  config: Config;
  sessions: SessionService;
  credentials: CredentialsSource;
  upstream: UpstreamClient;
  forwarder: Forwarder;
  trusted: TrustedProxies;
  logger: Logger;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
