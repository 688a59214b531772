/**
 * Errors of the browser pages (authorization, account): shown to a person as an HTML page, never as JSON and
 * never as a redirect to the client (RFC 6749 §4.1.2.1: an unknown client or redirect URI must not be
 * redirected to). Thrown by the handlers and rendered by the router's `fail`, next to `OAuthError`.
 */
export class PageError extends Error {
  constructor(
    readonly status: number,
    /** A short title, e.g. "Unknown application". */
    readonly title: string,
    /** What happened and what the person can do, in a sentence or two. */
    description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = "PageError";
  }
}

/** A form that does not belong to this browser, or whose time ran out (CSRF check failed). */
export function staleForm(): PageError {
  return new PageError(
    403,
    "This page has expired",
    "The form was not sent from the page this browser opened, or it was left open too long. Go back to the application and start again.",
  );
}
