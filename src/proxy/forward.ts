/**
 * Proxies a checked request to the homeserver with http-proxy-3's classic path.
 *
 * - The path is forwarded exactly as checked (`toProxy: true`; without it the library rebuilds the
 *   path with `new URL()`, resolving `..` and `\`).
 * - Upstream headers are set on `req.headers` before `proxy.web` (the library copies them), after
 *   hop-by-hop headers — and any header a client names in `Connection` — are removed, so a client
 *   cannot strip the credential the gateway sets.
 * - Responses are relayed by hand (`selfHandleResponse`) so that a `401 M_UNKNOWN_TOKEN` answered to a
 *   session's own credential can end that session.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { createProxyServer } from "http-proxy-3";
import { tooLarge, unknownToken, upstreamTimeout, upstreamUnreachable } from "../http/errors.js";
import type { RequestInfo } from "../http/request-info.js";
import { sendError } from "../http/respond.js";
import type { Logger } from "../observability/log.js";
import { scrubUrl } from "../observability/log.js";

export interface ForwardOptions {
  /** URL to send upstream: the request's own, minus the gateway's token. */
  url: string;
  /** `Authorization: Bearer` value for the upstream; `undefined` forwards without credential. */
  upstreamToken: string | undefined;
  /** The session whose credential is used: it ends if the upstream rejects that credential. */
  sessionId?: string;
  /** Passthrough prefixes (federation, keys): the client's own `Authorization` is kept. */
  passthrough?: boolean;
  /** The request's info: its client address goes upstream, the upstream's timing comes back. */
  info: RequestInfo;
  /** Larger request bodies are refused with 413 M_TOO_LARGE: by Content-Length up front, or while streaming. */
  maxBodyBytes: number;
}

export interface ForwarderOptions {
  upstreamUrl: string;
  timeoutMs: number;
  maxLongPollMs: number;
  maxSockets: number;
  logger: Logger;
  /** The upstream answered `401 M_UNKNOWN_TOKEN` to this session's credential. */
  onCredentialRejected: (sessionId: string) => void;
}

/** RFC 9110 §7.6.1 connection-specific fields, plus the proxy ones and `expect` (answered locally by Node). */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
];
const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer", "te"]);
/** Identity headers only the gateway may set upstream. */
const CLIENT_IDENTITY_HEADERS = ["forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto"];
const MAX_REJECTION_BODY = 64 * 1024;

interface RequestContext {
  options: ForwardOptions;
  timeoutMs: number;
  timedOut: boolean;
  tooLarge: boolean;
  proxyReq: http.ClientRequest | undefined;
}

export type Forwarder = ReturnType<typeof createForwarder>;

export function createForwarder(config: ForwarderOptions) {
  const target = new URL(config.upstreamUrl);
  const Agent = target.protocol === "https:" ? https.Agent : http.Agent;
  const agent = new Agent({ keepAlive: true, maxSockets: config.maxSockets });
  const proxy = createProxyServer({
    target,
    toProxy: true,
    xfwd: false,
    changeOrigin: false,
    selfHandleResponse: true,
    agent,
  });
  const contexts = new WeakMap<IncomingMessage, RequestContext>();

  proxy.on("proxyReq", (proxyReq, req) => {
    const context = contexts.get(req);
    if (!context) return;
    context.proxyReq = proxyReq;
    proxyReq.setTimeout(context.timeoutMs, () => {
      context.timedOut = true;
      proxyReq.destroy();
    });
  });

  proxy.on("proxyRes", (proxyRes, req, res) => {
    const context = contexts.get(req);
    if (context) context.options.info.upstreamMs = performance.now() - context.options.info.upstreamStart;
    const sessionId = context?.options.sessionId;
    if (proxyRes.statusCode === 401 && sessionId !== undefined) {
      relayRejection(proxyRes, res, () => config.onCredentialRejected(sessionId));
    } else {
      relay(proxyRes, res);
    }
  });

  const onError = (error: Error, req: IncomingMessage, res: ServerResponse | unknown) => {
    const response = res as ServerResponse;
    const context = contexts.get(req);
    if (req.socket.destroyed) return; // the client went away; nothing to answer
    config.logger.warn({ err: error.message, url: scrubUrl(req.url ?? ""), timedOut: context?.timedOut }, "upstream request failed");
    if (response.headersSent) {
      response.destroy();
      return;
    }
    if (context?.tooLarge) sendError(response, tooLarge());
    else sendError(response, context?.timedOut ? upstreamTimeout() : upstreamUnreachable());
  };

  return {
    forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void {
      const declaredLength = req.headers["content-length"];
      if (declaredLength !== undefined && Number(declaredLength) > options.maxBodyBytes) {
        req.resume();
        sendError(res, tooLarge());
        return;
      }
      const context: RequestContext = {
        options,
        timeoutMs: config.timeoutMs + longPollMs(options.url, config.maxLongPollMs),
        timedOut: false,
        tooLarge: false,
        proxyReq: undefined,
      };
      if (declaredLength === undefined && req.headers["transfer-encoding"] !== undefined) limitStreamedBody(req, context);
      prepareHeaders(req, options);
      req.url = options.url;
      options.info.upstreamStart = performance.now();
      contexts.set(req, context);
      proxy.web(req, res, onError);
    },
    close(): void {
      proxy.close();
      agent.destroy();
    },
  };
}

/** A chunked body has no declared length: count it as it streams, and cut the upstream request past the limit. */
function limitStreamedBody(req: IncomingMessage, context: RequestContext): void {
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= context.options.maxBodyBytes) return;
    req.off("data", count);
    context.tooLarge = true;
    req.unpipe();
    req.resume();
    context.proxyReq?.destroy(new Error("request body too large"));
  };
  req.on("data", count);
}

function prepareHeaders(req: IncomingMessage, options: ForwardOptions): void {
  const headers = req.headers;
  const named = headers.connection;
  if (named) {
    for (const name of named.split(",")) {
      const lower = name.trim().toLowerCase();
      // `Connection: host` would make the upstream see its own address instead of the client's Host.
      if (lower !== "host") delete headers[lower];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
  for (const name of CLIENT_IDENTITY_HEADERS) delete headers[name];
  if (!options.passthrough) delete headers.authorization;
  if (options.upstreamToken !== undefined) headers.authorization = `Bearer ${options.upstreamToken}`;
  headers["x-forwarded-for"] = options.info.address;
  headers["x-request-id"] = options.info.requestId;
}

/** A long-poll (`/sync?timeout=30000`, `/events?timeout=…`) may stay silent for its whole timeout. */
function longPollMs(url: string, max: number): number {
  const at = url.indexOf("timeout=");
  if (at === -1) return 0;
  const value = Number.parseInt(url.slice(at + 8), 10);
  return Number.isFinite(value) && value > 0 ? Math.min(value, max) : 0;
}

function relay(proxyRes: IncomingMessage, res: ServerResponse): void {
  res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, upstreamHeaders(proxyRes));
  // pipe() never ends `res` when the upstream breaks off mid-body: cut the client's response instead of leaving it hanging.
  proxyRes.on("close", () => {
    if (!proxyRes.complete) res.destroy();
  });
  proxyRes.pipe(res);
}

/**
 * The upstream's response headers minus hop-by-hop ones, in one pass. Repeated headers (several
 * `Set-Cookie`) become arrays: `writeHead` merges an object into headers set earlier (request id,
 * `RateLimit-*`) one name at a time, so an array keeps every line where a flat list would keep the last.
 * `bodyLength` replaces `Content-Length` for a body the gateway buffered.
 */
function upstreamHeaders(proxyRes: IncomingMessage, bodyLength?: number): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = Object.create(null);
  const connection = proxyRes.headers.connection;
  const named = connection ? new Set(connection.split(",").map((n) => n.trim().toLowerCase())) : undefined;
  const raw = proxyRes.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (RESPONSE_HOP_BY_HOP.has(lower) || named?.has(lower) || (bodyLength !== undefined && lower === "content-length")) continue;
    const value = raw[i + 1] as string;
    const earlier = headers[name];
    headers[name] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  if (bodyLength !== undefined) headers["Content-Length"] = String(bodyLength);
  return headers;
}

/**
 * A 401 to the session's own credential: `M_UNKNOWN_TOKEN` means the homeserver ended that session
 * (device deleted, password changed, account deactivated), so the gateway ends it too and tells the
 * client it is logged out for good. Other 401s (user-interactive auth) pass unchanged.
 */
function relayRejection(proxyRes: IncomingMessage, res: ServerResponse, onRejected: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  proxyRes.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_REJECTION_BODY) chunks.push(chunk);
  });
  proxyRes.on("end", () => {
    const body = Buffer.concat(chunks);
    let errcode: unknown;
    let error: unknown;
    try {
      ({ errcode, error } = JSON.parse(body.toString("utf8")) as { errcode?: unknown; error?: unknown });
    } catch {
      // not JSON: not a Matrix token rejection
    }
    if (errcode === "M_UNKNOWN_TOKEN") {
      onRejected();
      sendError(res, unknownToken(typeof error === "string" ? error : undefined));
      return;
    }
    res.writeHead(401, proxyRes.statusMessage, upstreamHeaders(proxyRes, body.length));
    res.end(body);
  });
  proxyRes.on("error", () => res.destroy());
}
