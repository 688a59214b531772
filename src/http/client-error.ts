/**
 * Requests Node's parser refuses before the router sees them: smuggling attempts and bad framing, headers
 * that arrive too slowly or are too large. They still get a JSON Matrix error with CORS headers (contract),
 * with the status Node's own handler sends for the same error code (408, 431, 413, otherwise 400).
 */
import type { Duplex } from "node:stream";
import { CORS_HEADERS } from "./respond.js";

const ANSWERS: Record<string, [status: string, message: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: ["408 Request Timeout", "The request took too long to arrive"],
  HPE_HEADER_OVERFLOW: ["431 Request Header Fields Too Large", "The request headers are too large"],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: ["413 Payload Too Large", "The chunk extensions are too large"],
};
const MALFORMED: [status: string, message: string] = ["400 Bad Request", "Malformed HTTP request"];

function rawResponse([status, message]: [string, string]): string {
  const body = JSON.stringify({ errcode: "M_UNKNOWN", error: message });
  const headers = Object.entries(CORS_HEADERS).map(([name, value]) => `${name}: ${value}`);
  return [
    `HTTP/1.1 ${status}`,
    "Connection: close",
    "Content-Type: application/json",
    ...headers,
    `Content-Length: ${Buffer.byteLength(body)}`,
    "",
    body,
  ].join("\r\n");
}

const RESPONSES = new Map(Object.entries(ANSWERS).map(([code, answer]) => [code, rawResponse(answer)]));
const MALFORMED_RESPONSE = rawResponse(MALFORMED);

/** The server's `clientError` handler. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node's own handler does: answer only when no response is in flight on this socket, never into one.
  const inFlight = (socket as { _httpMessage?: { headersSent: boolean } })._httpMessage;
  if (!socket.writable) socket.destroy();
  else if (inFlight?.headersSent) socket.end();
  else socket.end(RESPONSES.get(error.code ?? "") ?? MALFORMED_RESPONSE);
}
