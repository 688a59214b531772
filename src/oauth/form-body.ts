/**
 * The body of the token and revocation endpoints: `application/x-www-form-urlencoded` only (RFC 6749 §3.2,
 * RFC 7009 §2.1), bounded by `http.max_json_body`. A parameter sent twice is refused (RFC 6749 §3.2).
 */
import type { IncomingMessage } from "node:http";
import { readRawBody } from "../http/body.js";
import { OAuthError } from "./errors.js";

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
