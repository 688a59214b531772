/**
 * Requests that never reach the router: what Node's parser refuses (smuggling attempts and bad framing,
 * headers that arrive too slowly or are too large) and `CONNECT`, which Node hands to a separate event.
 * They still get a JSON Matrix error with CORS headers (contract): the parser's with the status Node's own
 * handler sends for the same error code (408, 431, 413, otherwise 400), CONNECT a 405 like any method the
 * client-server API does not use.
 */
import type { Duplex } from "node:stream";
import { CORS_HEADERS } from "./respond.js";

const ANSWERS: Record<string, [status: string, message: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ["408 Request Timeout", "The request took too long to arrive"],
  HPE_HEADER_OVERFLOW: ["431 Request Header Fields Too Large", "The request headers are too large"],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: ["413 Payload Too Large", "The chunk extensions are too large"],
};
const MALFORMED: [status: string, message: string] = ["400 Bad Request", "Malformed HTTP request"];

function rawResponse([status, message]: [string, string], errcode = "M_UNKNOWN", extraHeaders: string[] = []): string {
  const body = JSON.stringify({ errcode, error: message });
  const headers = Object.entries(CORS_HEADERS).map(([name, value]) => `${name}: ${value}`);
  return [
    `HTTP/1.1 ${status}`,
    "Connection: close",
    "Content-Type: application/json",
    ...headers,
    ...extraHeaders,
    `Content-Length: ${Buffer.byteLength(body)}`,
    "",
    body,
  ].join("\r\n");
}

/** A method the client-server API does not use: what the router answers to the ones Node's parser knows. */
const METHOD_NOT_ALLOWED = rawResponse(["405 Method Not Allowed", "Unrecognized request"], "M_UNRECOGNIZED", [
  "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS",
]);
const RESPONSES = new Map(Object.entries(ANSWERS).map(([code, answer]) => [code, rawResponse(answer)]));
// A made-up method (`FOO`): Node's parser refuses it before the router could.
RESPONSES.set("HPE_INVALID_METHOD", METHOD_NOT_ALLOWED);
const MALFORMED_RESPONSE = rawResponse(MALFORMED);
const CONNECT_RESPONSE = METHOD_NOT_ALLOWED;

/** The server's `connect` handler: a tunnel is nothing the gateway offers; the connection is closed after the answer. */
export function answerConnect(_req: unknown, socket: Duplex): void {
  socket.on("error", () => socket.destroy());
  if (socket.writable) socket.end(CONNECT_RESPONSE);
  else socket.destroy();
}

/** The server's `clientError` handler. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node's own handler does: answer only when no response is in flight on this socket, never into one.
  const inFlight = (socket as { _httpMessage?: { headersSent: boolean } })._httpMessage;
  if (!socket.writable) socket.destroy();
  else if (inFlight?.headersSent) socket.end();
  else socket.end(RESPONSES.get(error.code ?? "") ?? MALFORMED_RESPONSE);
}
