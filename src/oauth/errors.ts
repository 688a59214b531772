/**
 * Errors of the OAuth 2.0 API's JSON endpoints (registration, token, revocation): RFC 6749 §5.2's
 * `{"error", "error_description"}`, never a Matrix errcode. Thrown by the handlers and rendered by the
 * router, like every other error, in one place.
 */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    /** RFC 6749 §5.2 / RFC 7591 §3.2.2 error code, e.g. `invalid_grant`, `invalid_redirect_uri`. */
    readonly code: string,
    description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = "OAuthError";
  }

  body(): Record<string, string> {
    return { error: this.code, error_description: this.message };
  }
}
