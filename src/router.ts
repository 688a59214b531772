/**
 * The request's path through the gateway:
 *   1. the method must be one the client-server API uses, and the path canonical (what the gateway
 *      checks is what the upstream routes);
 *   2. the gateway's own endpoints are answered here: login, refresh, logout, register, `/health`,
 *      `/ready`, `/.well-known/jwks.json`;
 *   3. any other spelling of those endpoints (another version segment, a trailing slash, an escape) is
 *      refused, never proxied (`proxy/auth-endpoints.ts`);
 *   4. the Matrix namespaces are authenticated and proxied (`routes/proxied.ts`);
 *   5. operator-listed passthrough prefixes are proxied without the client's gateway token;
 *   6. anything else is `404 M_UNRECOGNIZED`.
 * Every error is rendered here, in one place; every request ends in one log line and its metrics.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { publicJwks } from "./auth/access-token.js";
import { clientAddress } from "./http/client-address.js";
import { badPath, duplicateHost, internalError, MatrixError, methodNotAllowed, missingHost, unrecognized } from "./http/errors.js";
import { newRequestInfo, type RequestInfo } from "./http/request-info.js";
import { sendError, sendJson, sendPreflight } from "./http/respond.js";
import { oauthEndpoints } from "./oauth/endpoints.js";
import { OAuthError } from "./oauth/errors.js";
import { PageError } from "./oauth/page-error.js";
import { sendErrorPage } from "./oauth/pages/error-page.js";
import { basePathOf } from "./oauth/pages-context.js";
import { scrubUrl } from "./observability/log.js";
import { createRequestObserver } from "./observability/request-log.js";
import { classifyAuthPath, PASSING_SUB_PATH } from "./proxy/auth-endpoints.js";
import { isCanonicalPath } from "./proxy/canonical-path.js";
import { withoutJwtParams } from "./proxy/passthrough-token.js";
import type { Handler, OwnEndpoint, RouteContext } from "./routes/context.js";
import { health } from "./routes/health.js";
import { createLoginFlowsHandler, createLoginHandler } from "./routes/login.js";
import { createLogoutHandler } from "./routes/logout.js";
import { createProxiedHandler } from "./routes/proxied.js";
import { createRefreshHandler } from "./routes/refresh.js";
import { createRegisterHandler } from "./routes/register.js";

/** The seed API, the two modern generations of the client-server API, and `unstable` (Synapse serves login there too). */
export const SEED_PREFIX = "/_matrix/client/api/v1";
export const CLIENT_PREFIXES = [SEED_PREFIX, "/_matrix/client/r0", "/_matrix/client/v3", "/_matrix/client/unstable"];
/**
 * Spec v1.3 refresh: `v1` (Synapse), `v3` (the spec's examples) and MSC2918's unstable prefix, which
 * homeservers served before it was stable.
 */
export const REFRESH_PATHS = [
  "/_matrix/client/v1/refresh",
  "/_matrix/client/v3/refresh",
  "/_matrix/client/unstable/org.matrix.msc2918.refresh_token/refresh",
];
/** The methods of the client-server API; anything else (TRACE, PATCH, PROPFIND, …) reaches nothing. */
export const API_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]);
/** The public keys of asymmetric signing keys (RFC 7517), for other services that verify gateway tokens. */
export const JWKS_PATH = "/.well-known/jwks.json";
const MATRIX_NAMESPACES = ["/_matrix/client/", "/_matrix/media/", "/.well-known/matrix/"];

export function ownEndpoints(ctx: RouteContext, ready: Handler): Map<string, OwnEndpoint> {
  const table = new Map<string, OwnEndpoint>();
  const loginFlows = createLoginFlowsHandler(ctx);
  for (const prefix of CLIENT_PREFIXES) {
    table.set(`${prefix}/register`, {
      route: "register",
      methods: { POST: createRegisterHandler(ctx, prefix === SEED_PREFIX) },
    });
    table.set(`${prefix}/login`, { route: "login", methods: { GET: loginFlows, POST: createLoginHandler(ctx, prefix === SEED_PREFIX) } });
    table.set(`${prefix}/logout`, { route: "logout", methods: { POST: createLogoutHandler(ctx, "session") } });
    table.set(`${prefix}/logout/all`, { route: "logout", methods: { POST: createLogoutHandler(ctx, "all") } });
  }
  table.set(`${SEED_PREFIX}/tokenrefresh`, { route: "refresh", methods: { POST: createRefreshHandler(ctx, "seed") } });
  const specRefresh = createRefreshHandler(ctx, "spec");
  for (const path of REFRESH_PATHS) table.set(path, { route: "refresh", methods: { POST: specRefresh } });
  table.set("/health", { route: "health", methods: { GET: health, HEAD: health } });
  table.set("/ready", { route: "ready", methods: { GET: ready, HEAD: ready } });
  const jwks = publicJwks(ctx.config.jwt.keys);
  const serveJwks: Handler = (_req, res) => sendJson(res, 200, jwks, { "Cache-Control": "public, max-age=300" });
  table.set(JWKS_PATH, { route: "jwks", methods: { GET: serveJwks, HEAD: serveJwks } });
  for (const [path, endpoint] of oauthEndpoints(ctx)) table.set(path, endpoint);
  return table;
}

export function createRouter(ctx: RouteContext, ready: Handler) {
  const proxied = createProxiedHandler(ctx);
  const own = ownEndpoints(ctx, ready);
  const passthrough = ctx.config.passthrough_prefixes;
  const observe = createRequestObserver(ctx.logger, ctx.metrics, ctx.config.log);
  const site = { basePath: basePathOf(ctx), serverName: ctx.config.server_name };

  const fail = (req: IncomingMessage, res: ServerResponse, info: RequestInfo, error: unknown) => {
    if (!res.headersSent && !res.hasHeader("X-Request-Id")) res.setHeader("X-Request-Id", info.requestId);
    if (error instanceof MatrixError) {
      sendError(res, error);
      return;
    }
    if (error instanceof OAuthError) {
      sendJson(res, error.status, error.body(), error.headers);
      return;
    }
    if (error instanceof PageError) {
      sendErrorPage(res, site, error);
      return;
    }
    ctx.logger.error({ err: error, url: scrubUrl(req.url ?? "") }, "request failed");
    sendError(res, internalError());
  };

  const route = (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> | void => {
    const method = req.method ?? "GET";
    if (!API_METHODS.has(method)) throw methodNotAllowed();
    if (req.headers.host === undefined) {
      if (req.httpVersionMinor === 1) throw missingHost();
    } else if (hasSecondHost(req.rawHeaders)) {
      throw duplicateHost();
    }
    const url = req.url ?? "";
    const queryStart = url.indexOf("?");
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    if (!isCanonicalPath(path)) throw badPath();
    info.path = path;
    info.address = clientAddress(req, ctx.trusted);

    const endpoint = own.get(path);
    if (endpoint) {
      res.setHeader("X-Request-Id", info.requestId);
      if (method === "OPTIONS") {
        info.route = "preflight";
        return sendPreflight(res);
      }
      info.route = endpoint.route;
      // HEAD is GET without the body, as Synapse serves it (Node drops the body of an answer to HEAD).
      const handler = endpoint.methods[method] ?? (method === "HEAD" ? endpoint.methods.GET : undefined);
      try {
        if (!handler) throw wrongMethod(endpoint);
        info.inFlightKey = ctx.rateLimits.enterInFlight(info.address);
      } catch (error) {
        throw endpoint.translateError ? endpoint.translateError(error) : error;
      }
      return handler(req, res, info);
    }
    if (startsWithAny(path, MATRIX_NAMESPACES)) {
      // A preflight on any path of the client API, as Synapse answers it: no token, nothing forwarded.
      if (method === "OPTIONS") {
        res.setHeader("X-Request-Id", info.requestId);
        info.route = "preflight";
        return sendPreflight(res);
      }
      const authPath = classifyAuthPath(path);
      if (authPath === PASSING_SUB_PATH) info.inspectAnswer = true;
      else if (authPath) {
        res.setHeader("X-Request-Id", info.requestId);
        throw authPath;
      }
      return proxied(req, res, info);
    }
    if (startsWithAny(path, passthrough)) {
      info.route = "passthrough";
      info.inFlightKey = ctx.rateLimits.enterInFlight(info.address);
      return ctx.forwarder.forward(req, res, {
        url: withoutJwtParams(url),
        upstreamToken: undefined,
        passthrough: true,
        info,
        maxBodyBytes: ctx.config.http.max_upload_body,
      });
    }
    throw unrecognized();
  };

  const finish = (req: IncomingMessage, res: ServerResponse, info: RequestInfo): void => {
    if (info.inFlightKey !== undefined) ctx.rateLimits.leaveInFlight(info.inFlightKey);
    ctx.forwarder.release(req);
    observe(req, res, info);
  };

  // One `close` listener for every response, reading its request and info off the response itself: a
  // closure per request would cost an allocation on the hot path.
  function onClose(this: TrackedResponse): void {
    finish(this[REQUEST] as IncomingMessage, this, this[INFO] as RequestInfo);
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    // X-Request-Id goes on every answer: set here for the gateway's own, by the forwarder for relayed ones
    // (in one object with the upstream's headers, which spares Node a merge per header).
    const info = newRequestInfo(req);
    const tracked = res as TrackedResponse;
    tracked[REQUEST] = req;
    tracked[INFO] = info;
    // `close` comes once per response; `on` spares the wrapper `once` would allocate.
    res.on("close", onClose);
    try {
      route(req, res, info)?.catch((error: unknown) => fail(req, res, info, error));
    } catch (error) {
      fail(req, res, info, error);
    }
  };
}

const REQUEST = Symbol("request");
const INFO = Symbol("request info");
type TrackedResponse = ServerResponse & { [REQUEST]?: IncomingMessage; [INFO]?: RequestInfo };
/**
 * A known endpoint with a method it does not serve: `405 M_UNRECOGNIZED` as the spec says ("API standards"),
 * with the `Allow` header RFC 9110 §15.5.6 requires. (Synapse 1.67 answers `400 M_UNRECOGNIZED` here.)
 */
function wrongMethod(endpoint: OwnEndpoint): MatrixError {
  const methods = Object.keys(endpoint.methods);
  if (endpoint.methods.GET && !endpoint.methods.HEAD) methods.push("HEAD");
  return new MatrixError(405, "M_UNRECOGNIZED", "Unrecognized request", {}, { Allow: [...methods, "OPTIONS"].join(", ") });
}

/** `prefixes.some((p) => path.startsWith(p))` without the closure `some` would allocate per request (hot path). */
function startsWithAny(path: string, prefixes: readonly string[]): boolean {
  for (let i = 0; i < prefixes.length; i++) if (path.startsWith(prefixes[i] as string)) return true;
  return false;
}

/** RFC 9112 §3.2: a request with more than one Host field is answered 400 (Node keeps only the first). */
function hasSecondHost(rawHeaders: string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}
