/**
 * Auth decisions are made on the path the upstream will route. A path that another server could
 * read differently (dot segments, encoded slashes, dots or backslashes, double encoding, `//`,
 * `;` parameters, control characters) is refused, never forwarded unauthenticated.
 */

/** Percent-escapes that decode to `.`, `/`, `\`, `%` (double encoding) or NUL. */
const DANGEROUS_ESCAPE = /%(2e|2f|5c|25|00)/i;
const DOT_SEGMENT = /\/\.\.?(\/|$)/;
// Printable ASCII except space, `\`, `;` and `#` (the request target never carries a fragment).
const ALLOWED = /^\/[!$&'()*+,\-./0-9:=@A-Z[\]_a-z~%]*$/;

export function isCanonicalPath(path: string): boolean {
  // Without `%` the path is plain ASCII (ALLOWED) with no escape to check: the usual case, kept cheap.
  if (!path.includes("%")) return ALLOWED.test(path) && !path.includes("//") && !DOT_SEGMENT.test(path);
  return (
    ALLOWED.test(path) &&
    !path.includes("//") &&
    !DOT_SEGMENT.test(path) &&
    !DANGEROUS_ESCAPE.test(path) &&
    !hasBadEscape(path) &&
    isUtf8(path)
  );
}

/** Escapes must spell valid UTF-8: an overlong `%C0%AF` is `/` to a lenient decoder, garbage to a strict one. */
function isUtf8(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** `%` must start a two-digit hex escape. */
function hasBadEscape(path: string): boolean {
  for (let i = path.indexOf("%"); i !== -1; i = path.indexOf("%", i + 1)) {
    if (!/^[0-9A-Fa-f]{2}$/.test(path.slice(i + 1, i + 3))) return true;
  }
  return false;
}
