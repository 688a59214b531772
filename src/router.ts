/**
 * The request's path through the gateway:
 *   1. the path must be canonical (what the gateway checks is what the upstream routes);
 *   2. `/health` and the gateway's own endpoints (login, refresh, logout) are answered here;
 *   3. the Matrix namespaces are authenticated and proxied (`routes/proxied.ts`);
 *   4. operator-listed passthrough prefixes are proxied untouched;
 *   5. anything else is `404 M_UNRECOGNIZED`.
 * Every error is rendered here, in one place.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { clientAddress } from "./http/client-address.js";
import { badPath, internalError, MatrixError, unrecognized } from "./http/errors.js";
import { sendError, sendPreflight } from "./http/respond.js";
import { scrubUrl } from "./observability/log.js";
import { isCanonicalPath } from "./proxy/canonical-path.js";
import type { Handler, RequestInfo, RouteContext } from "./routes/context.js";
import { health } from "./routes/health.js";
import { createLoginHandler, loginFlows } from "./routes/login.js";
import { createLogoutHandler } from "./routes/logout.js";
import { createProxiedHandler } from "./routes/proxied.js";
import { createRefreshHandler } from "./routes/refresh.js";

/** The seed API and the two modern generations of the client-server API. */
export const SEED_PREFIX = "/_matrix/client/api/v1";
export const CLIENT_PREFIXES = [SEED_PREFIX, "/_matrix/client/r0", "/_matrix/client/v3"];
const MATRIX_NAMESPACES = ["/_matrix/client/", "/_matrix/media/", "/.well-known/matrix/"];

type MethodTable = Partial<Record<string, Handler>>;

export function ownEndpoints(ctx: RouteContext): Map<string, MethodTable> {
  const table = new Map<string, MethodTable>();
  for (const prefix of CLIENT_PREFIXES) {
    table.set(`${prefix}/login`, { GET: loginFlows, POST: createLoginHandler(ctx, prefix === SEED_PREFIX) });
    table.set(`${prefix}/logout`, { POST: createLogoutHandler(ctx, "session") });
    table.set(`${prefix}/logout/all`, { POST: createLogoutHandler(ctx, "all") });
  }
  table.set(`${SEED_PREFIX}/tokenrefresh`, { POST: createRefreshHandler(ctx, "seed") });
  const specRefresh = createRefreshHandler(ctx, "spec");
  table.set("/_matrix/client/v1/refresh", { POST: specRefresh });
  table.set("/_matrix/client/v3/refresh", { POST: specRefresh });
  table.set("/health", { GET: health, HEAD: health });
  return table;
}

export function createRouter(ctx: RouteContext) {
  const own = ownEndpoints(ctx);
  const proxied = createProxiedHandler(ctx);
  const passthrough = ctx.config.passthrough_prefixes;

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    if (error instanceof MatrixError) {
      sendError(res, error);
      return;
    }
    ctx.logger.error({ err: error, url: scrubUrl(req.url ?? "") }, "request failed");
    sendError(res, internalError());
  };

  const route = (req: IncomingMessage, res: ServerResponse): Promise<void> | void => {
    const url = req.url ?? "";
    const queryStart = url.indexOf("?");
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    if (!isCanonicalPath(path)) throw badPath();
    const method = req.method ?? "GET";
    const address = clientAddress(req, ctx.trusted);
    ctx.rateLimits.enterInFlight(address, res);
    const info: RequestInfo = { path, address };

    const endpoint = own.get(path);
    if (endpoint) {
      if (method === "OPTIONS") return sendPreflight(res);
      const handler = endpoint[method];
      if (!handler) throw unrecognized(405);
      return handler(req, res, info);
    }
    if (MATRIX_NAMESPACES.some((ns) => path.startsWith(ns))) {
      if (method === "OPTIONS") return sendPreflight(res);
      return proxied(req, res, info);
    }
    if (passthrough.some((prefix) => path.startsWith(prefix))) {
      return ctx.forwarder.forward(req, res, { url, upstreamToken: undefined, passthrough: true, clientAddress: address });
    }
    throw unrecognized();
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    try {
      route(req, res)?.catch((error: unknown) => fail(req, res, error));
    } catch (error) {
      fail(req, res, error);
    }
  };
}
