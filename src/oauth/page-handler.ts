/**
 * The browser pages (authorization, account) answer every error as a page, because a person reads them: what
 * the shared code throws as a `MatrixError` (the session store unavailable, a body too large, the in-flight cap, a
 * method the page does not serve) and anything unexpected become a `PageError`, in one wrapper around each page
 * handler. The router's `fail` then renders it, as it renders every error.
 */
import { MatrixError } from "../http/errors.js";
import type { Logger } from "../observability/log.js";
import { scrubUrl } from "../observability/log.js";
import type { Handler } from "../routes/context.js";
import { PageError } from "./page-error.js";

/** Headers a refusal keeps on its page: when to come back, and which methods the page serves. */
const KEPT_HEADERS = ["Retry-After", "Allow"];

/** `handler`, with each error a `PageError`; one that is not a `MatrixError` is logged as the router logs it. */
export function pageHandler(handler: Handler, logger: Logger): Handler {
  return async (req, res, info) => {
    try {
      await handler(req, res, info);
    } catch (error) {
      if (error instanceof PageError) throw error;
      if (!(error instanceof MatrixError)) {
        logger.error({ err: error, url: scrubUrl(req.url ?? "") }, "request failed");
        throw somethingWentWrong();
      }
      throw asPageError(error);
    }
  };
}

/** What the router raises before a page's handler (a wrong method, the in-flight cap), as a page. */
export function asPageError(error: unknown): unknown {
  if (!(error instanceof MatrixError)) return error;
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) if (error.headers[name] !== undefined) headers[name] = error.headers[name];
  if (error.status === 429) {
    return new PageError(429, "Too many requests", "Too many requests came from here. Wait a moment, then try again.", headers);
  }
  if (error.status === 405) return new PageError(405, "Not available", "This page cannot be used this way.", headers);
  if (error.status >= 500) {
    return new PageError(
      error.status,
      "Temporarily unavailable",
      "The server cannot complete this just now. Try again in a moment.",
      headers,
    );
  }
  const sentence = error.message.endsWith(".") ? error.message : `${error.message}.`;
  return new PageError(error.status, "Something is wrong with this request", sentence, headers);
}

function somethingWentWrong(): PageError {
  return new PageError(500, "Something went wrong", "The server ran into a problem. Try again in a moment.");
}
