/**
 * Errors are values: a Matrix `errcode`, an HTTP status and a message for the client. They are
 * rendered to JSON in one place (`respond.ts`). Detail meant for operators goes to the log, not here.
 */
export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    /** Extra body fields, e.g. `soft_logout`, `retry_after_ms`. */
    readonly extra: Record<string, unknown> = {},
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "MatrixError";
  }

  body(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const notJson = () => new MatrixError(400, "M_NOT_JSON", "Content not JSON.");
export const badJson = (message: string) => new MatrixError(400, "M_BAD_JSON", message);
export const missingParam = (name: string) => new MatrixError(400, "M_MISSING_PARAM", `Missing parameter: ${name}`);
/** Synapse's answer to a JSON body that is not an object (`parse_json_object_from_request`). */
export const notJsonObject = () => new MatrixError(400, "M_BAD_JSON", "Content must be a JSON object.");
/** Synapse's answer when a field its servlet reads without a default is absent (a `KeyError`). */
export const missingJsonKeys = () => new MatrixError(400, "M_UNKNOWN", "Missing JSON keys.");
/** Synapse's answer to a field of the wrong type (`Codes.INVALID_PARAM`). */
export const invalidParam = (name: string) => new MatrixError(400, "M_INVALID_PARAM", `Bad parameter: ${name}`);
/**
 * A login type the gateway does not serve: Synapse's status and errcode, with the seed API's and the
 * contract's text ("Bad login type."; Synapse says "Unknown login type …" — clients branch on the errcode).
 */
export const unknownLoginType = (_type: string) => new MatrixError(400, "M_UNKNOWN", "Bad login type.");
export const forbidden = (message = "Forbidden") => new MatrixError(403, "M_FORBIDDEN", message);
export const invalidPassword = () => new MatrixError(403, "M_FORBIDDEN", "Invalid username or password");
export const missingToken = (message = "Missing access token") => new MatrixError(401, "M_MISSING_TOKEN", message);
export const mixedTokens = () => new MatrixError(401, "M_MISSING_TOKEN", "Mixing Authorization headers and access_token query parameters.");
export const unknownToken = (message = "Invalid access token passed.") =>
  new MatrixError(401, "M_UNKNOWN_TOKEN", message, { soft_logout: false });
/** Synapse's exact answer to an expired access token: the client should refresh, not log out. */
export const expiredToken = () => new MatrixError(401, "M_UNKNOWN_TOKEN", "Access token has expired", { soft_logout: true });
export const unrecognized = (status = 404, message = "Unrecognized request") => new MatrixError(status, "M_UNRECOGNIZED", message);
/** Spec "API standards": a method the endpoint (here: the whole client-server API) does not know. */
export const methodNotAllowed = () =>
  new MatrixError(405, "M_UNRECOGNIZED", "Unrecognized request", {}, { Allow: "GET, HEAD, POST, PUT, DELETE, OPTIONS" });
/** RFC 9112 §3.2: a server must answer 400 to a request with more than one Host field. */
export const duplicateHost = () => new MatrixError(400, "M_UNKNOWN", "More than one Host header");
export const badPath = () => new MatrixError(400, "M_UNRECOGNIZED", "Request path is not in canonical form");
/** RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400 (Node's own answer would be an empty body). */
export const missingHost = () => new MatrixError(400, "M_UNKNOWN", "Missing Host header");
export const tooLarge = () => new MatrixError(413, "M_TOO_LARGE", "Request body too large");
export const upstreamUnreachable = () => new MatrixError(502, "M_UNKNOWN", "The homeserver is unreachable");
export const upstreamTimeout = () => new MatrixError(504, "M_UNKNOWN", "The homeserver did not answer in time");
/** The homeserver answered a proxied request with one of its own credentials: never relayed (see proxy/credential-scan.ts). */
export const upstreamCredentialRefused = () =>
  new MatrixError(502, "M_UNKNOWN", "The homeserver answered with something the gateway does not relay");
/** Every socket to the homeserver stayed busy for `upstream.socket_wait`. */
export const upstreamPoolBusy = () => new MatrixError(503, "M_UNKNOWN", "The homeserver connection pool is busy");
export const upstreamFailed = () => new MatrixError(502, "M_UNKNOWN", "The homeserver answered with an error");
export const internalError = () => new MatrixError(500, "M_UNKNOWN", "Internal server error");
export const unavailable = (message = "Service temporarily unavailable") => new MatrixError(503, "M_UNKNOWN", message);
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError(
    429,
    "M_LIMIT_EXCEEDED",
    "Too many requests",
    { retry_after_ms: retryAfterMs },
    { "Retry-After": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
