/**
 * Proxies a checked request to the homeserver with http-proxy-3's classic path.
 *
 * - The path is forwarded exactly as checked (`toProxy: true`; without it the library rebuilds the
 *   path with `new URL()`, resolving `..` and `\`).
 * - Upstream headers replace `req.headers` before `proxy.web` (the library copies them): the client's
 *   fields minus hop-by-hop ones — and any a client names in `Connection`, so a client cannot strip the
 *   credential the gateway sets — plus the credential, `X-Forwarded-For` and `X-Request-Id`.
 * - Responses are relayed by hand (`selfHandleResponse`) so that a `401 M_UNKNOWN_TOKEN` answered to a
 *   session's own credential can end that session.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import { type MatrixError, tooLarge, unknownToken, upstreamTimeout, upstreamUnreachable } from "../http/errors.js";
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
  /** The gateway's own headers for whatever answer comes (`RateLimit-*`), written with the upstream's in one object. */
  responseHeaders?: Readonly<Record<string, string>>;
  /** A body the gateway has read and rewritten, sent instead of the request's own (which is consumed by then). */
  body?: Buffer;
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

/**
 * Request fields never forwarded as the client sent them: RFC 9110 §7.6.1 connection-specific fields
 * plus the proxy ones and `expect` (answered locally by Node); the identity headers only the gateway may
 * set; the credential and the request id, which the gateway sets itself.
 */
const NOT_FORWARDED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "forwarded",
  "x-forwarded-for",
  "x-real-ip",
  "x-forwarded-host",
  "x-forwarded-proto",
  "authorization",
  "x-request-id",
]);
const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer", "te"]);
/** `Connection` values that name no field beyond the hop-by-hop ones: nearly every request and response. */
const PLAIN_CONNECTION = /^\s*(keep-alive|close)\s*$/i;
const MAX_REJECTION_BODY = 64 * 1024;

/**
 * Header objects are built fresh rather than edited: `delete` turns a V8 object into a slow dictionary,
 * which every later step (http-proxy-3 copies the fields, Node validates each) pays for. Their prototype
 * has no properties, so any field name — `__proto__` and `constructor` included — is an ordinary field.
 */
const NO_INHERITED_FIELDS: object = Object.freeze(Object.create(null));
function newHeaderFields<T>(): Record<string, T> {
  return Object.create(NO_INHERITED_FIELDS) as Record<string, T>;
}

interface RequestContext {
  options: ForwardOptions;
  timeoutMs: number;
  timedOut: boolean;
  tooLarge: boolean;
  proxyReq: http.ClientRequest | undefined;
}

/** The forwarding state rides on the request itself: a WeakMap entry per request costs the garbage collector more. */
const CONTEXT = Symbol("forward context");
type ForwardedRequest = IncomingMessage & { [CONTEXT]?: RequestContext };

export type Forwarder = ReturnType<typeof createForwarder>;

export function createForwarder(config: ForwarderOptions) {
  const target = new URL(config.upstreamUrl);
  const Agent = target.protocol === "https:" ? https.Agent : http.Agent;
  const agent = new Agent({ keepAlive: true, maxSockets: config.maxSockets });
  const proxy = createProxyServer({
    target,
    toProxy: true,
    // The upstream URL has no path (config schema): without this the library re-parses the target's "/"
    // with `new URL()` on every request only to prepend it.
    prependPath: false,
    xfwd: false,
    changeOrigin: false,
    selfHandleResponse: true,
    agent,
  });
  proxy.on("proxyReq", (proxyReq, req) => {
    const context = (req as ForwardedRequest)[CONTEXT];
    if (!context) return;
    context.proxyReq = proxyReq;
    proxyReq.setTimeout(context.timeoutMs, () => {
      context.timedOut = true;
      proxyReq.destroy();
    });
  });

  proxy.on("proxyRes", (proxyRes, req, res) => {
    const context = (req as ForwardedRequest)[CONTEXT];
    if (context) context.options.info.upstreamMs = performance.now() - context.options.info.upstreamStart;
    const sessionId = context?.options.sessionId;
    if (proxyRes.statusCode === 401 && sessionId !== undefined) {
      relayRejection(proxyRes, res, context?.options, () => config.onCredentialRejected(sessionId));
    } else {
      relay(proxyRes, res, context?.options);
    }
  });

  const onError = (error: Error, req: IncomingMessage, res: ServerResponse | unknown) => {
    const response = res as ServerResponse;
    const context = (req as ForwardedRequest)[CONTEXT];
    if (req.socket.destroyed) return; // the client went away; nothing to answer
    config.logger.warn({ err: error.message, url: scrubUrl(req.url ?? ""), timedOut: context?.timedOut }, "upstream request failed");
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const error502 = context?.tooLarge ? tooLarge() : context?.timedOut ? upstreamTimeout() : upstreamUnreachable();
    answerError(response, context?.options, error502);
  };

  return {
    forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void {
      const { body } = options;
      const declaredLength = body === undefined ? req.headers["content-length"] : String(body.length);
      if (declaredLength !== undefined && Number(declaredLength) > options.maxBodyBytes) {
        req.resume();
        answerError(res, options, tooLarge());
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
      req.headers = upstreamRequestHeaders(req.headers, options);
      req.url = options.url;
      options.info.upstreamStart = performance.now();
      (req as ForwardedRequest)[CONTEXT] = context;
      // http-proxy-3 pipes `buffer` upstream in place of `req`.
      if (body === undefined) proxy.web(req, res, onError);
      else proxy.web(req, res, { buffer: Readable.from([body]) }, onError);
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

/** The fields sent upstream: the client's, minus the ones in `NOT_FORWARDED` and any it names in `Connection`, plus the gateway's own. */
function upstreamRequestHeaders(client: http.IncomingHttpHeaders, options: ForwardOptions): http.IncomingHttpHeaders {
  const named = connectionNamed(client.connection);
  const headers = newHeaderFields<string | string[] | undefined>();
  for (const name in client) {
    if (NOT_FORWARDED.has(name) || named?.has(name)) continue;
    headers[name] = client[name];
  }
  // Passthrough (federation, keys): the client's own Authorization is the request's signature.
  if (options.passthrough && client.authorization !== undefined && !named?.has("authorization"))
    headers.authorization = client.authorization;
  if (options.upstreamToken !== undefined) headers.authorization = `Bearer ${options.upstreamToken}`;
  // A rewritten body has its own length; the client's Transfer-Encoding is never forwarded (NOT_FORWARDED).
  if (options.body !== undefined) headers["content-length"] = String(options.body.length);
  headers["x-forwarded-for"] = options.info.address;
  headers["x-request-id"] = options.info.requestId;
  return headers;
}

/**
 * Fields a `Connection` header names are for this hop only (RFC 9110 §7.6.1). `Connection: host` is
 * ignored: dropping Host would make the upstream see its own address instead of the client's Host.
 */
function connectionNamed(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined || connection === "keep-alive" || connection === "close") return undefined;
  const value = Array.isArray(connection) ? connection.join(",") : connection;
  if (PLAIN_CONNECTION.test(value)) return undefined;
  const named = new Set(value.split(",").map((name) => name.trim().toLowerCase()));
  named.delete("host");
  return named;
}

/** A long-poll (`/sync?timeout=30000`, `/events?timeout=…`) may stay silent for its whole timeout. */
function longPollMs(url: string, max: number): number {
  const at = url.indexOf("timeout=");
  if (at === -1) return 0;
  const value = Number.parseInt(url.slice(at + 8), 10);
  return Number.isFinite(value) && value > 0 ? Math.min(value, max) : 0;
}

/** The forwarder's own answers carry the request id and the gateway's headers too (the router leaves them to the forwarder on this path). */
function answerError(res: ServerResponse, options: ForwardOptions | undefined, error: MatrixError): void {
  if (options && !res.headersSent) {
    res.setHeader("X-Request-Id", options.info.requestId);
    for (const name in options.responseHeaders) res.setHeader(name, options.responseHeaders[name] as string);
  }
  sendError(res, error);
}

function relay(proxyRes: IncomingMessage, res: ServerResponse, options: ForwardOptions | undefined): void {
  res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, upstreamHeaders(proxyRes, options));
  // pipe() never ends `res` when the upstream breaks off mid-body: cut the client's response instead of leaving it hanging.
  proxyRes.on("close", () => {
    if (!proxyRes.complete) res.destroy();
  });
  proxyRes.pipe(res);
}

/**
 * The upstream's response headers minus hop-by-hop ones, in one pass over the raw lines, plus the
 * gateway's own: `RateLimit-*` and `X-Request-Id` (the one its log line has; an upstream one is
 * dropped). Repeated headers (several `Set-Cookie`) become arrays: `writeHead` merges an object into
 * headers set earlier one name at a time, so an array keeps every line where a flat list would keep the
 * last. With nothing set earlier — the usual case — Node writes the object as it is, without that merge.
 * `bodyLength` replaces `Content-Length` for a body the gateway buffered.
 */
function upstreamHeaders(
  proxyRes: IncomingMessage,
  options: ForwardOptions | undefined,
  bodyLength?: number,
): Record<string, string | string[]> {
  const raw = proxyRes.rawHeaders;
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 10 && name.toLowerCase() === "connection") named = connectionNamed(raw[i + 1]) ?? named;
  }
  // The gateway's own fields (`RateLimit-*`) replace the upstream's of the same name, in any case.
  const own = options?.responseHeaders ? ownFieldNames(options.responseHeaders) : undefined;
  const headers = newHeaderFields<string | string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (isResponseHopByHop(name) || named?.has(name.toLowerCase()) || own?.has(name.toLowerCase())) continue;
    if (bodyLength !== undefined && name.length === 14 && name.toLowerCase() === "content-length") continue;
    if (name.length === 12 && name.toLowerCase() === "x-request-id") continue;
    const value = raw[i + 1] as string;
    const earlier = headers[name];
    headers[name] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  if (bodyLength !== undefined) headers["Content-Length"] = String(bodyLength);
  if (options) {
    for (const name in options.responseHeaders) headers[name] = options.responseHeaders[name] as string;
    headers["X-Request-Id"] = options.info.requestId;
  }
  return headers;
}

/** Lower-cased names of the gateway's own response fields; `undefined` when there are none (limits off). */
function ownFieldNames(fields: Readonly<Record<string, string>>): Set<string> | undefined {
  const names = new Set<string>();
  for (const name in fields) names.add(name.toLowerCase());
  return names.size > 0 ? names : undefined;
}

/** Lower-cases only names as long as a hop-by-hop one: most fields are neither, and this runs for each. */
function isResponseHopByHop(name: string): boolean {
  const length = name.length;
  if (length !== 2 && length !== 7 && length !== 10 && length !== 16 && length !== 17) return false;
  return RESPONSE_HOP_BY_HOP.has(name.toLowerCase());
}

/**
 * A 401 to the session's own credential: `M_UNKNOWN_TOKEN` means the homeserver ended that session
 * (device deleted, password changed, account deactivated), so the gateway ends it too and tells the
 * client it is logged out for good. Other 401s (user-interactive auth) pass unchanged.
 */
function relayRejection(proxyRes: IncomingMessage, res: ServerResponse, options: ForwardOptions | undefined, onRejected: () => void): void {
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
      answerError(res, options, unknownToken(typeof error === "string" ? error : undefined));
      return;
    }
    res.writeHead(401, proxyRes.statusMessage, upstreamHeaders(proxyRes, options, body.length));
    res.end(body);
  });
  proxyRes.on("error", () => res.destroy());
}
