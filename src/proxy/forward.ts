/**
 * Proxies a checked request to the homeserver with http-proxy-3's classic path.
 *
 * - The path is forwarded exactly as checked (`toProxy: true`; without it the library rebuilds the
 *   path with `new URL()`, resolving `..` and `\`).
 * - Upstream headers replace `req.headers` before `proxy.web` (the library copies them): the client's
 *   fields minus hop-by-hop ones — and any a client names in `Connection`, so a client cannot strip the
 *   credential the gateway sets — plus the credential, `X-Forwarded-For` and `X-Request-Id`.
 * - Responses are relayed by hand (`selfHandleResponse`) so that a `401 M_UNKNOWN_TOKEN` answered to a
 *   session's own credential can end that session, and so that the answer to a POST is inspected before it
 *   is relayed: one that carries a homeserver credential is dropped (`credential-scan.ts`).
 * - Two connection pools: long-polls (`/sync?timeout=…`) have one of their own without a cap, so that they
 *   never queue behind, or block, short requests; short requests share `upstream.max_sockets`, and one that
 *   waits longer than `upstream.socket_wait` for a socket is answered `503`.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { Readable, type Stream } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import {
  type MatrixError,
  tooLarge,
  unknownToken,
  upstreamCredentialRefused,
  upstreamPoolBusy,
  upstreamTimeout,
  upstreamUnreachable,
} from "../http/errors.js";
import { paramValues } from "../http/query.js";
import type { RequestInfo } from "../http/request-info.js";
import { sendError } from "../http/respond.js";
import type { Logger } from "../observability/log.js";
import { scrubUrl } from "../observability/log.js";
import { CredentialScanner } from "./credential-scan.js";
import { createDeadlines, type TrackedExchange } from "./deadlines.js";
import { isBearerJwt } from "./passthrough-token.js";

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
  /** The gateway's own headers for whatever answer comes (`RateLimit-*` only), written with the upstream's in one object. */
  responseHeaders?: Readonly<Record<string, string>>;
  /** A body the gateway has read and rewritten, sent instead of the request's own (which is consumed by then). */
  body?: Buffer;
}

export interface ForwarderOptions {
  upstreamUrl: string;
  timeoutMs: number;
  maxLongPollMs: number;
  /** Sockets of the short-request pool; 0 = no cap. Long-polls have a pool of their own, never capped. */
  maxSockets: number;
  /** How long a short request may wait for a socket of a full pool before it is answered 503. */
  socketWaitMs: number;
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
 * The answer to a POST is held back up to this many bytes while it is inspected, so that a credential found
 * in it can still be answered with a clean `502`. A longer answer (none that carries a credential is) is
 * relayed as it streams, still inspected, and cut off before a credential key would be relayed.
 */
const MAX_HELD_ANSWER = 64 * 1024;
/**
 * POSTs whose answer is a credential *for a third party*: `…/user/{userId}/openid/request_token` returns an
 * OpenID token that the client hands to an identity server or widget (spec, "OpenID"); it cannot act on the
 * homeserver's client API.
 */
const THIRD_PARTY_TOKEN_ENDPOINT = /^\/_matrix\/client\/(?:[^/]+\/)+user\/[^/]+\/openid\/request_token$/;

/**
 * Header objects are built fresh rather than edited: `delete` turns a V8 object into a slow dictionary,
 * which every later step (http-proxy-3 copies the fields, Node validates each) pays for. Their prototype
 * has no properties, so any field name — `__proto__` and `constructor` included — is an ordinary field.
 */
const NO_INHERITED_FIELDS: object = Object.freeze(Object.create(null));
function newHeaderFields<T>(): Record<string, T> {
  return Object.create(NO_INHERITED_FIELDS) as Record<string, T>;
}

interface RequestContext extends TrackedExchange {
  options: ForwardOptions;
  timedOut: boolean;
  tooLarge: boolean;
  /** Waited past `socketWaitMs` for a socket of the full short-request pool. */
  poolBusy: boolean;
  /** The client's response, for the deadlines to answer when no upstream request exists to destroy. */
  res: ServerResponse;
  /** The answer is inspected for a homeserver credential before it is relayed (POST). */
  inspect: boolean;
}

/** The forwarding state rides on the request itself: a WeakMap entry per request costs the garbage collector more. */
const CONTEXT = Symbol("forward context");
type ForwardedRequest = IncomingMessage & { [CONTEXT]?: RequestContext };

export type Forwarder = ReturnType<typeof createForwarder>;

export function createForwarder(config: ForwarderOptions) {
  const target = new URL(config.upstreamUrl);
  const Agent = target.protocol === "https:" ? https.Agent : http.Agent;
  const maxSockets = config.maxSockets > 0 ? config.maxSockets : Number.POSITIVE_INFINITY;
  const shortAgent = new Agent({ keepAlive: true, maxSockets });
  const longPollAgent = new Agent({ keepAlive: true });
  // One proxy per pool, so that no per-request options object makes http-proxy-3 merge options.
  const proxyFor = (agent: http.Agent, buffer?: typeof NO_BODY) =>
    createProxyServer({
      target,
      toProxy: true,
      // The upstream URL has no path (config schema): without this the library re-parses the target's "/"
      // with `new URL()` on every request only to prepend it.
      prependPath: false,
      xfwd: false,
      changeOrigin: false,
      selfHandleResponse: true,
      agent,
      // http-proxy-3 pipes `buffer` upstream in place of the request (a stand-in for "no body", see NO_BODY).
      ...(buffer ? { buffer: buffer as unknown as Stream } : {}),
    });
  const shortProxy = proxyFor(shortAgent);
  // Requests without a body (nearly every GET) skip the stream pipe: their proxy ends the upstream request at once.
  const bodylessProxy = proxyFor(shortAgent, NO_BODY);
  const longPollProxy = proxyFor(longPollAgent, NO_BODY);

  // Every exchange in flight, watched by one coarse timer (deadlines.ts): a request waiting too long for a
  // socket of the full short pool, or silent too long, is answered here.
  const deadlines = createDeadlines<RequestContext>({
    onSocketWaitExpired(context) {
      // Answered now; `onProxyReq` stops the request if the agent hands it a socket later.
      context.poolBusy = true;
      if (!context.res.headersSent) answerError(context.res, context.options, upstreamPoolBusy());
    },
    onSilent(context) {
      context.timedOut = true;
      if (context.proxyReq)
        context.proxyReq.destroy(); // onError answers 504 (or cuts a relay under way)
      else if (!context.res.headersSent) answerError(context.res, context.options, upstreamTimeout());
    },
  });

  const onProxyReq = (proxyReq: http.ClientRequest, req: IncomingMessage) => {
    const context = (req as ForwardedRequest)[CONTEXT];
    if (!context) return;
    context.proxyReq = proxyReq;
    // Its wait ran out and the client got its answer: it must not reach the homeserver after all.
    if (context.poolBusy || context.timedOut) proxyReq.destroy();
  };

  const onProxyRes = (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => {
    const context = (req as ForwardedRequest)[CONTEXT];
    if (context) context.options.info.upstreamMs = performance.now() - context.options.info.upstreamStart;
    const sessionId = context?.options.sessionId;
    const onCredential = context?.inspect ? () => refuseCredential(req, context) : undefined;
    if (proxyRes.statusCode === 401 && sessionId !== undefined) {
      relayRejection(proxyRes, res, context?.options, () => config.onCredentialRejected(sessionId), onCredential);
    } else if (onCredential) {
      relayInspected(proxyRes, res, context?.options, onCredential);
    } else {
      relay(proxyRes, res, context?.options);
    }
  };

  const refuseCredential = (req: IncomingMessage, context: RequestContext): MatrixError => {
    config.logger.error(
      { event: "upstream_credential_dropped", url: scrubUrl(req.url ?? ""), request_id: context.options.info.requestId },
      "the homeserver answered a proxied request with a credential: the answer was dropped",
    );
    return upstreamCredentialRefused();
  };

  for (const proxy of [shortProxy, bodylessProxy, longPollProxy]) {
    proxy.on("proxyReq", onProxyReq);
    proxy.on("proxyRes", onProxyRes);
  }

  const onError = (error: Error, req: IncomingMessage, res: ServerResponse | unknown) => {
    const response = res as ServerResponse;
    const context = (req as ForwardedRequest)[CONTEXT];
    if (req.socket.destroyed) return; // the client went away; nothing to answer
    // Already answered: 503 when its wait for a socket ran out, 504 when it timed out before it had one.
    if (context?.poolBusy || response.writableEnded) return;
    config.logger.warn({ err: error.message, url: scrubUrl(req.url ?? ""), timedOut: context?.timedOut }, "upstream request failed");
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const failure = context?.tooLarge ? tooLarge() : context?.timedOut ? upstreamTimeout() : upstreamUnreachable();
    answerError(response, context?.options, failure);
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
      const longPoll = longPollMs(options.url, config.maxLongPollMs);
      const inspect = options.info.inspectAnswer || (req.method === "POST" && !THIRD_PARTY_TOKEN_ENDPOINT.test(options.info.path));
      const context: RequestContext = {
        options,
        timeoutMs: config.timeoutMs + longPoll,
        timedOut: false,
        tooLarge: false,
        poolBusy: false,
        socketDeadline: 0,
        lastBytes: -1,
        lastProgressAt: 0,
        res,
        inspect,
        proxyReq: undefined,
      };
      if (declaredLength === undefined && req.headers["transfer-encoding"] !== undefined) limitStreamedBody(req, context);
      // Read off the client's own headers, before they are replaced by the upstream ones (no Transfer-Encoding there).
      const bodyless = body === undefined && hasNoBody(req);
      req.headers = upstreamRequestHeaders(req.headers, options, inspect);
      req.url = options.url;
      options.info.upstreamStart = performance.now();
      (req as ForwardedRequest)[CONTEXT] = context;
      deadlines.track(context);
      if (longPoll > 0 && bodyless) {
        longPollProxy.web(req, res, onError);
        return;
      }
      if (maxSockets !== Number.POSITIVE_INFINITY && busySockets(shortAgent) >= maxSockets) {
        context.socketDeadline = performance.now() + config.socketWaitMs;
      }
      // http-proxy-3 pipes `buffer` upstream in place of `req`.
      if (body !== undefined) shortProxy.web(req, res, { buffer: Readable.from([body]) }, onError);
      else if (bodyless) bodylessProxy.web(req, res, onError);
      else shortProxy.web(req, res, onError);
    },
    /** The request's response closed: its deadlines are over. Called for every request; a no-op for unforwarded ones. */
    release(req: IncomingMessage): void {
      const context = (req as ForwardedRequest)[CONTEXT];
      if (context) deadlines.release(context);
    },
    close(): void {
      deadlines.close();
      for (const proxy of [shortProxy, bodylessProxy, longPollProxy]) proxy.close();
      shortAgent.destroy();
      longPollAgent.destroy();
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

/**
 * What http-proxy-3 pipes upstream for a request without a body: it only ever calls `buffer.pipe(proxyReq)`,
 * and ending the upstream request at once spares the stream pipe (listeners, a tick) per request.
 */
const NO_BODY = {
  pipe(destination: http.ClientRequest): http.ClientRequest {
    destination.end();
    return destination;
  },
};

/** No `Content-Length` (or 0) and no `Transfer-Encoding`: HTTP/1.1 says the request has no body (RFC 9112 §6.3). */
function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (length === undefined || length === "0") && req.headers["transfer-encoding"] === undefined;
}

/** Sockets of `agent` in use (one upstream: one entry). */
function busySockets(agent: http.Agent): number {
  let busy = 0;
  for (const name in agent.sockets) busy += agent.sockets[name]?.length ?? 0;
  return busy;
}

/**
 * The fields sent upstream: the client's, minus the ones in `NOT_FORWARDED` and any it names in `Connection`,
 * plus the gateway's own. An answer to be inspected is asked for uncompressed (no `Accept-Encoding`).
 */
function upstreamRequestHeaders(client: http.IncomingHttpHeaders, options: ForwardOptions, inspect: boolean): http.IncomingHttpHeaders {
  const named = connectionNamed(client.connection);
  const headers = newHeaderFields<string | string[] | undefined>();
  for (const name in client) {
    if (NOT_FORWARDED.has(name) || named?.has(name)) continue;
    if (inspect && name === "accept-encoding") continue;
    headers[name] = client[name];
  }
  // Passthrough (federation, keys): the client's own Authorization is the request's signature — unless it is a
  // bearer JWT, the gateway's kind of token, which never goes upstream (proxy/passthrough-token.ts).
  if (options.passthrough && client.authorization !== undefined && !named?.has("authorization") && !isBearerJwt(client.authorization))
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

/**
 * A long-poll (`/sync?timeout=30000`, `/events?timeout=…`) may stay silent for its whole timeout: the value of
 * a real `timeout` query parameter, read as the homeserver reads it (the first one; `&` and `;` separate,
 * names are decoded), never a `timeout=` that stands inside another parameter or the path.
 */
function longPollMs(url: string, max: number): number {
  const queryStart = url.indexOf("?");
  if (queryStart === -1 || (!url.includes("timeout", queryStart) && !url.includes("%", queryStart))) return 0;
  const [first] = paramValues(url, "timeout");
  if (first === undefined || !/^\d+$/.test(first)) return 0;
  const value = Number(first);
  return value > 0 ? Math.min(value, max) : 0;
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
  const own = options?.responseHeaders && hasFields(options.responseHeaders) ? RATE_LIMIT_FIELDS : undefined;
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

/** The gateway's own response fields (`ForwardOptions.responseHeaders`), lower-cased: a constant, not a Set per request. */
const RATE_LIMIT_FIELDS: ReadonlySet<string> = new Set(["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]);

function hasFields(fields: Readonly<Record<string, string>>): boolean {
  for (const _ in fields) return true;
  return false;
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
 * client it is logged out for good. Other 401s (user-interactive auth) pass unchanged — unless the answer to
 * be inspected carries a credential (`onCredential`).
 */
function relayRejection(
  proxyRes: IncomingMessage,
  res: ServerResponse,
  options: ForwardOptions | undefined,
  onRejected: () => void,
  onCredential: (() => MatrixError) | undefined,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  proxyRes.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_REJECTION_BODY) chunks.push(chunk);
  });
  proxyRes.on("end", () => {
    const body = Buffer.concat(chunks);
    if (onCredential && (size > MAX_REJECTION_BODY || !isPlainEncoding(proxyRes) || new CredentialScanner().scan(body))) {
      answerError(res, options, onCredential());
      return;
    }
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

/**
 * The answer to a POST, relayed only once it is known to carry no homeserver credential: held back up to
 * `MAX_HELD_ANSWER` bytes (a credential found then is answered `502`), streamed beyond that and cut off
 * before a credential key is relayed. An answer the gateway cannot read (compressed although it was asked
 * for none) is refused like one that carries a credential: closed by default.
 */
function relayInspected(
  proxyRes: IncomingMessage,
  res: ServerResponse,
  options: ForwardOptions | undefined,
  onCredential: () => MatrixError,
): void {
  const scanner = new CredentialScanner();
  let held: Buffer[] | undefined = [];
  let heldBytes = 0;
  let refused = !isPlainEncoding(proxyRes);
  const refuse = () => {
    refused = true;
    proxyRes.destroy();
    const error = onCredential();
    if (res.headersSent) res.destroy();
    else answerError(res, options, error);
  };
  if (refused) {
    refused = false;
    refuse();
    return;
  }
  const release = () => {
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, upstreamHeaders(proxyRes, options));
    for (const chunk of held as Buffer[]) res.write(chunk);
    held = undefined;
  };
  proxyRes.on("data", (chunk: Buffer) => {
    if (refused) return;
    if (scanner.scan(chunk)) return refuse();
    if (held) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes > MAX_HELD_ANSWER) release();
      return;
    }
    if (!res.write(chunk)) {
      proxyRes.pause();
      res.once("drain", () => proxyRes.resume());
    }
  });
  proxyRes.on("end", () => {
    if (refused) return;
    if (held) {
      const body = Buffer.concat(held);
      res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, upstreamHeaders(proxyRes, options, body.length));
      res.end(body);
      return;
    }
    res.end();
  });
  proxyRes.on("close", () => {
    if (!proxyRes.complete && !refused) res.destroy();
  });
  proxyRes.on("error", () => res.destroy());
}

/** No `Content-Encoding`, or `identity`: a body the scanner can read. */
function isPlainEncoding(proxyRes: IncomingMessage): boolean {
  const encoding = proxyRes.headers["content-encoding"];
  return encoding === undefined || encoding.trim().toLowerCase() === "identity" || encoding.trim() === "";
}
