/** Reads an HTML form's body (`application/x-www-form-urlencoded`, WHATWG URL §5), bounded in size; errors as pages. */
import type { IncomingMessage } from "node:http";
import { readRawBody } from "../http/body.js";
import { MatrixError } from "../http/errors.js";
import { PageError } from "./page-error.js";

export async function readPageForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams> {
  try {
    return new URLSearchParams((await readRawBody(req, maxBytes)).toString("utf8"));
  } catch (error) {
    if (error instanceof MatrixError && error.status === 413) {
      throw new PageError(413, "Form too large", "The form sent more than this server accepts.");
    }
    if (error instanceof MatrixError) throw new PageError(400, "Form not received", "The form could not be read; try again.");
    throw error;
  }
}
