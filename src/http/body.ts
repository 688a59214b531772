/** Reads the body of a request the gateway answers itself, bounded in size. */
import type { IncomingMessage } from "node:http";
import { MatrixError, notJson, tooLarge } from "./errors.js";

/**
 * Resolves to the parsed body; rejects with 413 M_TOO_LARGE past `maxBytes` (the rest of the body is
 * drained, not buffered, so the answer still reaches the client) or 400 M_NOT_JSON. An empty body is
 * `emptyAs` when given (endpoints where a homeserver accepts none, e.g. `DELETE …/devices/{id}`).
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number, emptyAs?: unknown): Promise<unknown> {
  const body = await readRawBody(req, maxBytes);
  if (body.length === 0 && emptyAs !== undefined) return emptyAs;
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    throw notJson();
  }
}

/** The body's bytes; rejects with 413 M_TOO_LARGE past `maxBytes` (the rest is drained, not buffered). */
export function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers["content-length"]) > maxBytes) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off("data", onData);
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("error", () => reject(new MatrixError(400, "M_UNKNOWN", "Request body could not be read")));
    req.once("end", () => {
      if (size > maxBytes) return;
      resolve(Buffer.concat(chunks));
    });
  });
}
