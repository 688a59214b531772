/**
 * Form bodies (`application/x-www-form-urlencoded`, WHATWG URL §5), bounded in size: the HTML pages'
 * forms (`readFormBody`, errors as pages), and the token and revocation endpoints (`readForm`, RFC 6749
 * §3.2, RFC 7009 §2.1, bounded by `http.max_json_body`; a parameter sent twice is refused, errors as OAuth JSON).
 */
import type { IncomingMessage } from "node:http";
import { readRawBody } from "../http/body.js";
import { OAuthError } from "./errors.js";
import { PageError } from "./page-error.js";

export function readFormBody(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams> {
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

export async function readForm(req: IncomingMessage, maxBytes: number): Promise<Map<string, string>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    req.resume();
    throw new OAuthError(400, "invalid_request", "The body must be application/x-www-form-urlencoded");
  }
  const body = await readRawBody(req, maxBytes);
  const form = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body.toString("utf8"))) {
    if (form.has(name)) throw new OAuthError(400, "invalid_request", `Parameter sent more than once: ${name}`);
    form.set(name, value);
  }
  return form;
}

/** A parameter that must be there. */
export function required(form: Map<string, string>, name: string): string {
  const value = form.get(name);
  if (value === undefined || value === "") throw new OAuthError(400, "invalid_request", `Missing parameter: ${name}`);
  return value;
}
