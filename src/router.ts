/**
 * The request's path through the gateway:
 *   1. the path must be canonical (what the gateway checks is what the upstream routes);
 *   2. the in-flight cap of the client address;
 *   3. the gateway's own endpoints are answered here: login, refresh, logout, register, `/health`,
 *      `/ready`, `/.well-known/jwks.json`;
 *   4. the Matrix namespaces are authenticated and proxied (`routes/proxied.ts`);
 *   5. operator-listed passthrough prefixes are proxied untouched;
 *   6. anything else is `404 M_UNRECOGNIZED`.
 * Every error is rendered here, in one place; every request ends in one log line and its metrics.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { publicJwks } from "./auth/access-token.js";
import { clientAddress } from "./http/client-address.js";
import { badPath, internalError, MatrixError, missingHost, unrecognized } from "./http/errors.js";
import { newRequestInfo, type RequestInfo } from "./http/request-info.js";
import { sendError, sendJson, sendPreflight } from "./http/respond.js";
import { scrubUrl } from "./observability/log.js";
import type { RouteLabel } from "./observability/metrics.js";
import { createRequestObserver } from "./observability/request-log.js";
import { isCanonicalPath } from "./proxy/canonical-path.js";
import type { Handler, RouteContext } from "./routes/context.js";
import { health } from "./routes/health.js";
import { createLoginHandler, loginFlows } from "./routes/login.js";
import { createLogoutHandler } from "./routes/logout.js";
import { createProxiedHandler } from "./routes/proxied.js";
import { createRefreshHandler } from "./routes/refresh.js";
import { createRegisterHandler } from "./routes/register.js";

/** The seed API and the two modern generations of the client-server API. */
export const SEED_PREFIX = "/_matrix/client/api/v1";
export const CLIENT_PREFIXES = [SEED_PREFIX, "/_matrix/client/r0", "/_matrix/client/v3"];
/** The public keys of asymmetric signing keys (RFC 7517), for other services that verify gateway tokens. */
export const JWKS_PATH = "/.well-known/jwks.json";
const MATRIX_NAMESPACES = ["/_matrix/client/", "/_matrix/media/", "/.well-known/matrix/"];

interface OwnEndpoint {
  route: RouteLabel;
  methods: Partial<Record<string, Handler>>;
}

export function ownEndpoints(ctx: RouteContext, ready: Handler, proxied: Handler): Map<string, OwnEndpoint> {
  const table = new Map<string, OwnEndpoint>();
  for (const prefix of CLIENT_PREFIXES) {
    table.set(`${prefix}/register`, {
      route: "register",
      methods: { POST: createRegisterHandler(ctx, prefix === SEED_PREFIX), GET: proxied },
    });
    table.set(`${prefix}/login`, { route: "login", methods: { GET: loginFlows, POST: createLoginHandler(ctx, prefix === SEED_PREFIX) } });
    table.set(`${prefix}/logout`, { route: "logout", methods: { POST: createLogoutHandler(ctx, "session") } });
    table.set(`${prefix}/logout/all`, { route: "logout", methods: { POST: createLogoutHandler(ctx, "all") } });
  }
  table.set(`${SEED_PREFIX}/tokenrefresh`, { route: "refresh", methods: { POST: createRefreshHandler(ctx, "seed") } });
  const specRefresh = createRefreshHandler(ctx, "spec");
  table.set("/_matrix/client/v1/refresh", { route: "refresh", methods: { POST: specRefresh } });
  table.set("/_matrix/client/v3/refresh", { route: "refresh", methods: { POST: specRefresh } });
  table.set("/health", { route: "health", methods: { GET: health, HEAD: health } });
  table.set("/ready", { route: "ready", methods: { GET: ready, HEAD: ready } });
  const jwks = publicJwks(ctx.config.jwt.keys);
  const serveJwks: Handler = (_req, res) => sendJson(res, 200, jwks, { "Cache-Control": "public, max-age=300" });
  table.set(JWKS_PATH, { route: "jwks", methods: { GET: serveJwks, HEAD: serveJwks } });
  return table;
}

export function createRouter(ctx: RouteContext, ready: Handler) {
  const proxied = createProxiedHandler(ctx);
  const own = ownEndpoints(ctx, ready, proxied);
  const passthrough = ctx.config.passthrough_prefixes;
  const observe = createRequestObserver(ctx.logger, ctx.metrics, ctx.config.log);

  const fail = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, error: unknown) => {
    if (!res.headersSent && !res.hasHeader("X-Request-Id")) res.setHeader("X-Request-Id", info.requestId);
    if (error instanceof MatrixError) {
      sendError(res, error);
      return;
    }
    ctx.logger.error({ err: error, url: scrubUrl(req.url ?? "") }, "request failed");
    sendError(res, internalError());
  };

  const route = (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> | void => {
    if (req.headers.host === undefined && req.httpVersionMinor === 1) throw missingHost();
    const url = req.url ?? "";
    const queryStart = url.indexOf("?");
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    if (!isCanonicalPath(path)) throw badPath();
    info.path = path;
    info.address = clientAddress(req, ctx.trusted);
    ctx.rateLimits.enterInFlight(info.address);
    info.inFlight = true;
    const method = req.method ?? "GET";

    const endpoint = own.get(path);
    if (endpoint) {
      res.setHeader("X-Request-Id", info.requestId);
      if (method === "OPTIONS") {
        info.route = "preflight";
        return sendPreflight(res);
      }
      info.route = endpoint.route;
      const handler = endpoint.methods[method];
      if (!handler) throw unrecognized(405);
      return handler(req, res, info);
    }
    if (MATRIX_NAMESPACES.some((ns) => path.startsWith(ns))) {
      if (method === "OPTIONS") {
        res.setHeader("X-Request-Id", info.requestId);
        info.route = "preflight";
        return sendPreflight(res);
      }
      return proxied(req, res, info);
    }
    if (passthrough.some((prefix) => path.startsWith(prefix))) {
      info.route = "passthrough";
      return ctx.forwarder.forward(req, res, {
        url,
        upstreamToken: undefined,
        passthrough: true,
        info,
        maxBodyBytes: ctx.config.http.max_upload_body,
      });
    }
    throw unrecognized();
  };

  const finish = (req: IncomingMessage, res: ServerResponse, info: RequestInfo): void => {
    if (info.inFlight) ctx.rateLimits.leaveInFlight(info.address);
    observe(req, res, info);
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    // X-Request-Id goes on every answer: set here for the gateway's own, by the forwarder for relayed ones
    // (in one object with the upstream's headers, which spares Node a merge per header).
    const info = newRequestInfo(req);
    // `close` comes once per response; `on` spares the wrapper `once` would allocate.
    res.on("close", () => finish(req, res, info));
    try {
      route(req, res, info)?.catch((error: unknown) => fail(req, res, info, error));
    } catch (error) {
      fail(req, res, info, error);
    }
  };
}
