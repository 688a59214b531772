/**
 * `createGateway(config, deps)`: builds the pieces once and wires them to an HTTP server.
 * No request logic lives here; the request's path is in `router.ts`.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createAccessTokens } from "./auth/access-token.js";
import { createSessionService, type SessionService } from "./auth/sessions.js";
import { type Clock, type RandomBytes, secureRandom, systemClock } from "./clock.js";
import type { Config } from "./config/schema.js";
import { type CredentialsSource, createUpstreamLogin } from "./credentials/upstream-login.js";
import { trustedProxies } from "./http/client-address.js";
import { createLogger, type Logger } from "./observability/log.js";
import { createForwarder } from "./proxy/forward.js";
import { type LimiterFactory, memoryLimiters } from "./ratelimit/limiter.js";
import { createRateLimits } from "./ratelimit/policies.js";
import { createRouter } from "./router.js";
import type { RouteContext } from "./routes/context.js";
import { createStore, type Store } from "./store/index.js";
import { createUpstreamClient } from "./upstream/client.js";

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
  sessions: SessionService;
  listen(): Promise<AddressInfo>;
  /** Stops accepting, waits for in-flight requests (up to `http.shutdown_timeout`), closes the store. */
  close(): Promise<void>;
}

/** How often sessions past their limits are swept from the store. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

export function createGateway(config: Config, deps: GatewayDeps = {}): Gateway {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? secureRandom;
  const logger = deps.logger ?? createLogger(config.log.level);
  const store = deps.store ?? createStore(config);

  const accessTokens = createAccessTokens({
    secret: config.jwt.secret,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    clockSkewMs: config.jwt.clock_skew,
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
  });
  const upstream = createUpstreamClient(config.upstream.url, config.upstream.timeout);
  const forwarder = createForwarder({
    upstreamUrl: config.upstream.url,
    timeoutMs: config.upstream.timeout,
    maxLongPollMs: config.upstream.max_long_poll,
    maxSockets: config.upstream.max_sockets,
    logger,
    onCredentialRejected: (sessionId) => {
      logger.info({ event: "upstream_session_ended", session: sessionId }, "homeserver rejected the session's credential: session revoked");
      sessions.revoke(sessionId).catch((error: unknown) => logger.error({ err: error }, "revoking session failed"));
    },
  });
  const ctx: RouteContext = {
    config,
    sessions,
    credentials: deps.credentials ?? createUpstreamLogin(upstream),
    upstream,
    forwarder,
    trusted: trustedProxies(config.trusted_proxies),
    rateLimits: createRateLimits(config.rate_limits, deps.limiters ?? memoryLimiters),
    logger,
  };

  const server = http.createServer(
    {
      headersTimeout: config.http.headers_timeout,
      requestTimeout: config.http.request_timeout,
      keepAliveTimeout: config.http.keep_alive_timeout,
      insecureHTTPParser: false,
    },
    createRouter(ctx),
  );
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });

  const sweeper = setInterval(() => {
    sessions.sweep().catch((error: unknown) => logger.error({ err: error }, "sweeping expired sessions failed"));
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  return {
    server,
    sessions,
    listen() {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.listen.port, config.listen.host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, config.http.shutdown_timeout).unref());
        await Promise.race([drained, deadline]);
        server.closeAllConnections();
        forwarder.close();
        sessions.close();
        await store.close();
      })();
      return closing;
    },
  };
}
