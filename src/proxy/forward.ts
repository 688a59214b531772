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
  upstreamCredentialRefused,
  upstreamPoolBusy,
  upstreamTimeout,
  upstreamUnreachable,
} from "../http/errors.js";
import { paramValues } from "../http/query.js";
import type { RequestInfo } from "../http/request-info.js";
import type { Logger } from "../observability/log.js";
import { scrubUrl } from "../observability/log.js";
import { createDeadlines, type TrackedExchange } from "./deadlines.js";
import { connectionNamed, newHeaderFields } from "./header-fields.js";
import { isBearerJwt } from "./passthrough-token.js";
import { answerError, type RelayOptions, relay, relayInspected, relayRejection } from "./relay.js";

export interface ForwardOptions extends RelayOptions {
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
/**
 * POSTs whose answer is a credential *for a third party*: `…/user/{userId}/openid/request_token` returns an
 * OpenID token that the client hands to an identity server or widget (spec, "OpenID"); it cannot act on the
 * homeserver's client API.
 */
const THIRD_PARTY_TOKEN_ENDPOINT = /^\/_matrix\/client\/(?:[^/]+\/)+user\/[^/]+\/openid\/request_token$/;

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
  const busyShortSockets = busySocketsOf(shortAgent);

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
        slot: -1,
        res,
        inspect,
        proxyReq: undefined,
      };
      if (declaredLength === undefined && req.headers["transfer-encoding"] !== undefined) limitStreamedBody(req, context);
      // Read off the client's own headers, before they are replaced by the upstream ones (no Transfer-Encoding there).
      const bodyless = body === undefined && hasNoBody(req);
      req.headers = upstreamRequestHeaders(req.headers, options, inspect);
      req.url = options.url;
      const now = performance.now();
      options.info.upstreamStart = now;
      (req as ForwardedRequest)[CONTEXT] = context;
      deadlines.track(context, now);
      if (longPoll > 0 && bodyless) {
        longPollProxy.web(req, res, onError);
        return;
      }
      if (maxSockets !== Number.POSITIVE_INFINITY && busyShortSockets() >= maxSockets) {
        context.socketDeadline = now + config.socketWaitMs;
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

/**
 * Sockets of `agent` in use. The agent serves one upstream, so it files them under one name: found once, then
 * read directly (a `for…in` over `agent.sockets`, which Node keeps as a dictionary, cost ~150 ns a request).
 */
function busySocketsOf(agent: http.Agent): () => number {
  let name: string | undefined;
  return () => {
    if (name === undefined) {
      for (const key in agent.sockets) name = key;
      if (name === undefined) return 0;
    }
    return agent.sockets[name]?.length ?? 0;
  };
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
