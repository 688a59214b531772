/** What the route handlers share, built once by `gateway.ts`. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SessionService } from "../auth/sessions.js";
import type { Clock, RandomBytes } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { PasswordCheck } from "../credentials/index.js";
import type { CredentialsSource } from "../credentials/upstream-login.js";
import type { TokenLoginSource } from "../credentials/upstream-token-login.js";
import type { TrustedProxies } from "../http/client-address.js";
import type { RequestInfo } from "../http/request-info.js";
import type { Logger } from "../observability/log.js";
import type { Metrics, RouteLabel } from "../observability/metrics.js";
import type { Forwarder } from "../proxy/forward.js";
import type { RateLimits } from "../ratelimit/policies.js";
import type { Store } from "../store/store.js";
import type { UpstreamClient } from "../upstream/client.js";
import type { HomeserverTokens } from "../upstream/homeserver-tokens.js";
import type { UpstreamIdentity } from "../upstream/identity.js";
import type { LoginFlows } from "../upstream/login-flows.js";

export interface RouteContext {
  config: Config;
  sessions: SessionService;
  credentials: CredentialsSource;
  /** The users file's password check alone (`credentials.source: users_file`); undefined otherwise. */
  checkPassword: PasswordCheck | undefined;
  /** `m.login.token` checked by the homeserver: the delegated mode only (`credentials.source: upstream`). */
  tokenLogin: TokenLoginSource | undefined;
  /** Homeserver tokens accepted during the migration window (`migration.accept_homeserver_tokens_until`). */
  homeserverTokens: HomeserverTokens;
  /** What `GET …/login` advertises. */
  loginFlows: LoginFlows;
  upstream: UpstreamClient;
  identity: UpstreamIdentity;
  forwarder: Forwarder;
  trusted: TrustedProxies;
  rateLimits: RateLimits;
  logger: Logger;
  metrics: Metrics;
  random: RandomBytes;
  clock: Clock;
  /** The store itself, for what is not a session: OAuth clients and authorization codes. */
  store: Store;
}

export type { RequestInfo };

export type Handler = (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => Promise<void> | void;

/** One of the gateway's own endpoints: its metrics label and a handler per method. */
export interface OwnEndpoint {
  route: RouteLabel;
  methods: Partial<Record<string, Handler>>;
  /**
   * How this endpoint words the errors the router raises before its handler runs (a method it does not serve,
   * the in-flight cap): the OAuth JSON endpoints answer RFC 6749 JSON, never a Matrix errcode.
   */
  translateError?: (error: unknown) => unknown;
}
