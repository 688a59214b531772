/** Reads an HTML form's body (`application/x-www-form-urlencoded`, WHATWG URL §5), bounded in size. */
import type { IncomingMessage } from "node:http";
import { PageError } from "./page-error.js";

export function readPageForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new PageError(413, "Form too large", "The form sent more than this server accepts.");
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
    req.once("error", () => reject(new PageError(400, "Form not received", "The form could not be read; try again.")));
    req.once("end", () => {
      if (size <= maxBytes) resolve(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
    });
  });
}
