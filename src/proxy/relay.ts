/**
 * Relaying the homeserver's answer to the client (`selfHandleResponse`): its fields minus hop-by-hop ones plus
 * the gateway's own, a `401 M_UNKNOWN_TOKEN` to a session's credential turned into the end of that session, and
 * an answer to be inspected held back until it is known to carry no homeserver credential (credential-scan.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type MatrixError, unknownToken } from "../http/errors.js";
import type { RequestInfo } from "../http/request-info.js";
import { sendError } from "../http/respond.js";
import { CredentialScanner } from "./credential-scan.js";
import { connectionNamed, newHeaderFields } from "./header-fields.js";

/** What a relay needs of the forwarded request: its id and the gateway's own response fields. */
export interface RelayOptions {
  info: RequestInfo;
  /** The gateway's own headers for whatever answer comes (`RateLimit-*` only), written with the upstream's in one object. */
  responseHeaders?: Readonly<Record<string, string>>;
}

const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer", "te"]);
const MAX_REJECTION_BODY = 64 * 1024;
/**
 * The answer to a POST is held back up to this many bytes while it is inspected, so that a credential found
 * in it can still be answered with a clean `502`. A longer answer (none that carries a credential is) is
 * relayed as it streams, still inspected, and cut off before a credential key would be relayed.
 */
const MAX_HELD_ANSWER = 64 * 1024;

/** The forwarder's own answers carry the request id and the gateway's headers too (the router leaves them to the forwarder on this path). */
export function answerError(res: ServerResponse, options: RelayOptions | undefined, error: MatrixError): void {
  if (options && !res.headersSent) {
    res.setHeader("X-Request-Id", options.info.requestId);
    for (const name in options.responseHeaders) res.setHeader(name, options.responseHeaders[name] as string);
  }
  sendError(res, error);
}

export function relay(proxyRes: IncomingMessage, res: ServerResponse, options: RelayOptions | undefined): void {
  res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, upstreamHeaders(proxyRes, options));
  // The body streams as `pipe()` would stream it (each chunk written as it comes, the upstream paused while the
  // client is behind, the response ended at the end), with three listeners shared by every response: `pipe()`
  // adds and later removes seven per response, closures among them (~1.5 µs a request).
  (proxyRes as RelayedAnswer)[CLIENT_RESPONSE] = res;
  proxyRes.on("data", relayChunk);
  proxyRes.on("end", endRelay);
  // An upstream that breaks off mid-body never ends `res`: cut the client's response instead of leaving it hanging.
  proxyRes.on("close", cutIfIncomplete);
}

/** The client's response an upstream answer is relayed into, on the answer itself (and back), for the shared listeners. */
const CLIENT_RESPONSE = Symbol("client response");
const UPSTREAM_ANSWER = Symbol("upstream answer");
type RelayedAnswer = IncomingMessage & { [CLIENT_RESPONSE]?: ServerResponse };
type RelayingResponse = ServerResponse & { [UPSTREAM_ANSWER]?: IncomingMessage };

function relayChunk(this: RelayedAnswer, chunk: Buffer): void {
  const res = this[CLIENT_RESPONSE] as RelayingResponse;
  if (res.write(chunk)) return;
  // The client reads slower than the homeserver answers: hold the upstream until the client's buffer drains.
  // (A destroyed response never drains; its upstream request is destroyed with it.)
  this.pause();
  res[UPSTREAM_ANSWER] = this;
  res.once("drain", resumeUpstream);
}

function resumeUpstream(this: RelayingResponse): void {
  this[UPSTREAM_ANSWER]?.resume();
}

function endRelay(this: RelayedAnswer): void {
  this[CLIENT_RESPONSE]?.end();
}

/** The upstream answer closed: before its end (it broke off mid-body), the client's response is cut. */
function cutIfIncomplete(this: RelayedAnswer): void {
  if (!this.complete) this[CLIENT_RESPONSE]?.destroy();
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
  options: RelayOptions | undefined,
  bodyLength?: number,
): Record<string, string | string[]> {
  const raw = proxyRes.rawHeaders;
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 10 && name.toLowerCase() === "connection") named = connectionNamed(raw[i + 1]) ?? named;
  }
  // The gateway's own fields (`RateLimit-*`) replace the upstream's of the same name, in any case.
  const own = options?.responseHeaders !== undefined && hasFields(options.responseHeaders);
  const headers = newHeaderFields<string | string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (isResponseHopByHop(name) || named?.has(name.toLowerCase()) || (own && isRateLimitField(name))) continue;
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

/** Lower-cases only names as long as `RateLimit-Limit`/`-Reset` (15) or `-Remaining` (19): one string per field spared. */
function isRateLimitField(name: string): boolean {
  return (name.length === 15 || name.length === 19) && RATE_LIMIT_FIELDS.has(name.toLowerCase());
}

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
export function relayRejection(
  proxyRes: IncomingMessage,
  res: ServerResponse,
  options: RelayOptions | undefined,
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
export function relayInspected(
  proxyRes: IncomingMessage,
  res: ServerResponse,
  options: RelayOptions | undefined,
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
