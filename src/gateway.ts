/**
 * `createGateway(config, deps)`: builds the pieces and wires them to an HTTP server. No request
 * logic lives here; the request's path is in `router.ts`.
 *
 * What lives as long as the process (server, store, metrics, logger) is built once. What follows
 * the configuration (keys, token lifetimes, limits, public endpoints, the upstream) is the *runtime*,
 * rebuilt by `reload()` on SIGHUP and swapped in for the next request; requests in flight finish
 * on the runtime they started with.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createAccessTokens } from "./auth/access-token.js";
import { createSessionService, type SessionService } from "./auth/sessions.js";
import { type Clock, type RandomBytes, secureRandom, systemClock } from "./clock.js";
import type { Config } from "./config/schema.js";
import { type Credentials, type CredentialsSource, createCredentials } from "./credentials/index.js";
import { createUpstreamTokenLogin } from "./credentials/upstream-token-login.js";
import { trustedProxies } from "./http/client-address.js";
import { answerClientError, answerConnect } from "./http/client-error.js";
import { CODE_SWEEP_INTERVAL_MS, sweepExpiredCodes } from "./oauth/code-sweep.js";
import { createLogger, type Logger } from "./observability/log.js";
import { createMetrics, type Metrics, serveMetrics } from "./observability/metrics.js";
import { createForwarder } from "./proxy/forward.js";
import { createLimiterBackend } from "./ratelimit/backend.js";
import type { LimiterFactory } from "./ratelimit/limiter.js";
import { createRateLimits } from "./ratelimit/policies.js";
import { createRouter } from "./router.js";
import type { RouteContext } from "./routes/context.js";
import { createReadiness } from "./routes/health.js";
import { createStore, type Store } from "./store/index.js";
import { instrumentStore } from "./store/instrument.js";
import { createUpstreamClient } from "./upstream/client.js";
import { createHomeserverTokens } from "./upstream/homeserver-tokens.js";
import { appserviceIdentity, sessionTokenIdentity } from "./upstream/identity.js";
import { homeserverLoginFlows, passwordFlowOnly } from "./upstream/login-flows.js";

export interface GatewayDeps {
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  /** A store built by the caller (tests); otherwise the one the config names. */
  store?: Store;
  /** Where rate-limit counters live; defaults to process memory. */
  limiters?: LimiterFactory;
  /** How passwords are checked; defaults to the upstream homeserver's own login. */
  credentials?: CredentialsSource;
}

export interface Gateway {
  server: http.Server;
  /** The sessions of the current runtime. */
  readonly sessions: SessionService;
  metrics: Metrics;
  listen(): Promise<AddressInfo>;
  /** Where `/metrics` is served, once listening (when `metrics.listen` is set). */
  metricsAddress(): AddressInfo | undefined;
  /**
   * Applies a new configuration to the next requests. Keys that need a restart (listen, store,
   * metrics listener) keep their running values; their names are returned.
   */
  reload(config: Config): string[];
  /**
   * Removes expired OAuth authorization codes and logs out the homeserver sessions of those never exchanged;
   * resolves to how many. Runs every minute while `oauth.enabled`; callable at any time (tests).
   */
  sweepExpiredCodes(): Promise<number>;
  /** Stops accepting, waits for in-flight requests (up to `http.shutdown_timeout`), closes the store. */
  close(): Promise<void>;
}

/** How often Node looks for connections past `http.headers_timeout` / `http.request_timeout`. */
const CONNECTIONS_CHECK_MS = 500;

/** How often sessions past their limits are swept from the store. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

/** What lives as long as the process. */
interface Shared {
  clock: Clock;
  random: RandomBytes;
  logger: Logger;
  store: Store;
  metrics: Metrics;
  limiters: LimiterFactory;
  deps: GatewayDeps;
}

/** What follows the configuration. */
interface Runtime {
  config: Config;
  sessions: SessionService;
  handle: http.RequestListener;
  sweepExpiredCodes(): Promise<number>;
  /** Stops this runtime's timers and watchers (not its connections: requests in flight may still use them). */
  close(): void;
  /** Closes its connections to the homeserver (proxied requests and its own calls), once no request needs them. */
  closeConnections(): void;
}

function buildRuntime(config: Config, shared: Shared): Runtime {
  const { clock, random, logger, store, metrics, deps } = shared;
  const accessTokens = createAccessTokens({
    keys: config.jwt.keys,
    signingKid: config.jwt.signing_kid,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    clockSkewMs: config.jwt.clock_skew,
    verifiedCacheSize: config.jwt.verified_cache_size,
    clock,
    random,
  });
  const sessions = createSessionService({
    store,
    accessTokens,
    tokens: config.tokens,
    cache: { ttlMs: config.store.cache_ttl, size: config.store.cache_size },
    clock,
    random,
    onCacheLookup: metrics.countCacheLookup,
    revocationPollMs: config.store.type === "memory" ? 0 : config.store.revocation_poll,
    onError: (error) => logger.warn({ err: error }, "reading the revocation feed failed"),
  });
  const upstream = createUpstreamClient(config.upstream.url, config.upstream.timeout);
  const identity =
    config.upstream_identity.mode === "appservice" ? appserviceIdentity(config.upstream_identity.as_token as string) : sessionTokenIdentity;
  // The homeserver checks the credentials: its own login flows (SSO, m.login.token) are offered too.
  const delegated = config.credentials.source === "upstream";
  const credentials: Credentials = deps.credentials
    ? { source: deps.credentials, close() {} }
    : createCredentials(config, upstream, logger);
  const forwarder = createForwarder({
    upstreamUrl: config.upstream.url,
    timeoutMs: config.upstream.timeout,
    maxLongPollMs: config.upstream.max_long_poll,
    maxSockets: config.upstream.max_sockets,
    socketWaitMs: config.upstream.socket_wait,
    logger,
    onCredentialRejected: (sessionId) => {
      logger.info({ event: "upstream_session_ended", session: sessionId }, "homeserver rejected the session's credential: session revoked");
      sessions.revoke(sessionId).catch((error: unknown) => logger.error({ err: error }, "revoking session failed"));
    },
  });
  const ctx: RouteContext = {
    config,
    sessions,
    credentials: credentials.source,
    checkPassword: credentials.checkPassword,
    tokenLogin: delegated ? createUpstreamTokenLogin(upstream) : undefined,
    loginFlows: delegated ? homeserverLoginFlows(upstream, clock, logger) : passwordFlowOnly,
    homeserverTokens: createHomeserverTokens(config.migration.accept_homeserver_tokens_until, upstream, clock),
    upstream,
    identity,
    forwarder,
    trusted: trustedProxies(config.trusted_proxies),
    rateLimits: createRateLimits(config.rate_limits, shared.limiters, (policy) => metrics.rateLimited.inc({ policy })),
    logger,
    metrics,
    random,
    clock,
    store,
  };
  return {
    config,
    sessions,
    handle: createRouter(ctx, createReadiness(store, config.upstream.url)),
    sweepExpiredCodes: () => sweepExpiredCodes(ctx),
    close() {
      sessions.close();
      credentials.close();
    },
    closeConnections() {
      forwarder.close();
      void upstream.close();
    },
  };
}

export function createGateway(initial: Config, deps: GatewayDeps = {}): Gateway {
  const logger = deps.logger ?? createLogger(initial.log.level);
  const onLost = (reason: string) =>
    logger.error(
      { event: "store_file_lost", path: initial.store.path },
      `${reason}: /ready fails and writes are refused; restart the gateway`,
    );
  const store = instrumentStore(deps.store ?? createStore(initial, { onLost }), (operation, error) => {
    metrics.storeErrors.inc({ operation });
    logger.error({ err: error, operation }, "store operation failed");
  });
  const metrics = createMetrics(() => store.countSessions());
  const limiterBackend = deps.limiters ? { factory: deps.limiters, close() {} } : createLimiterBackend(initial);
  const shared: Shared = {
    clock: deps.clock ?? systemClock,
    random: deps.random ?? secureRandom,
    logger,
    store,
    metrics,
    limiters: limiterBackend.factory,
    deps,
  };
  let runtime = buildRuntime(initial, shared);
  const retired = new Set<Runtime>();

  const server = http.createServer(
    {
      headersTimeout: initial.http.headers_timeout,
      requestTimeout: initial.http.request_timeout,
      keepAliveTimeout: initial.http.keep_alive_timeout,
      // Node enforces the two timeouts above only when it checks, every 30 s by default: check often
      // enough that a slowloris client is cut off near headers_timeout, not up to 30 s later.
      connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, initial.http.headers_timeout),
      insecureHTTPParser: false,
      // The router refuses an HTTP/1.1 request without Host itself, as JSON with CORS headers like every other error.
      requireHostHeader: false,
    },
    (req, res) => runtime.handle(req, res),
  );
  server.on("clientError", answerClientError);
  server.on("connect", answerConnect);

  const sweeper = setInterval(() => {
    runtime.sessions.sweep().catch((error: unknown) => logger.error({ err: error }, "sweeping expired sessions failed"));
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  const codeSweeper = setInterval(() => {
    if (!runtime.config.oauth.enabled) return;
    runtime.sweepExpiredCodes().catch((error: unknown) => logger.error({ err: error }, "sweeping expired authorization codes failed"));
  }, CODE_SWEEP_INTERVAL_MS);
  codeSweeper.unref();

  let closing: Promise<void> | undefined;
  let metricsServer: http.Server | undefined;
  let metricsAddress: AddressInfo | undefined;
  return {
    server,
    get sessions() {
      return runtime.sessions;
    },
    metrics,
    async listen() {
      const address = await new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen(initial.listen.port, initial.listen.host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
      if (initial.metrics.listen) {
        const served = await serveMetrics(metrics, initial.metrics.listen.host, initial.metrics.listen.port);
        metricsServer = served.server;
        metricsAddress = served.address;
      }
      return address;
    },
    metricsAddress: () => metricsAddress,
    sweepExpiredCodes: () => runtime.sweepExpiredCodes(),
    reload(config) {
      const needRestart = restartOnlyChanges(runtime.config, config);
      const previous = runtime;
      // First: the new router's request logger takes its level from this logger when it is built.
      logger.level = config.log.level;
      runtime = buildRuntime(
        { ...config, listen: initial.listen, store: initial.store, metrics: initial.metrics, http: initial.http },
        shared,
      );
      // The old runtime still serves the requests it started (long-polls included), then its sockets close.
      retired.add(previous);
      previous.close();
      const drainMs = previous.config.upstream.timeout + previous.config.upstream.max_long_poll;
      setTimeout(() => {
        retired.delete(previous);
        previous.closeConnections();
      }, drainMs).unref();
      return needRestart;
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        clearInterval(codeSweeper);
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, runtime.config.http.shutdown_timeout).unref());
        await Promise.race([drained, deadline]);
        server.closeAllConnections();
        metricsServer?.close();
        for (const old of [...retired, runtime]) old.closeConnections();
        runtime.close();
        limiterBackend.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/** Keys whose new value only a restart applies. */
function restartOnlyChanges(running: Config, next: Config): string[] {
  const changed: string[] = [];
  if (running.workers !== next.workers) changed.push("workers");
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(running.listen, next.listen)) changed.push("listen");
  if (
    !same({ ...running.store, encryption_key: undefined }, { ...next.store, encryption_key: undefined }) ||
    !running.store.encryption_key.equals(next.store.encryption_key)
  ) {
    changed.push("store");
  }
  if (!same(running.metrics, next.metrics)) changed.push("metrics");
  if (!same(running.http, next.http)) changed.push("http");
  if (running.log.buffer !== next.log.buffer) changed.push("log.buffer");
  return changed;
}
