/**
 * Auth decisions are made on the path the upstream will route. A path that another server could
 * read differently (dot segments, encoded slashes, dots or backslashes, double encoding, `//`,
 * `;` parameters, control characters) is refused, never forwarded unauthenticated.
 */

/** Percent-escapes that decode to `.`, `/`, `\`, `%` (double encoding) or NUL. */
const DANGEROUS_ESCAPE = /%(2e|2f|5c|25|00)/i;

export function isCanonicalPath(path: string): boolean {
  // Without `%` the path has no escape to check: the usual case, one pass over its characters.
  if (!isPlainPath(path)) return false;
  return !path.includes("%") || (!DANGEROUS_ESCAPE.test(path) && !hasBadEscape(path) && isUtf8(path));
}

/** Printable ASCII except space, `\`, `;` and `#` (the request target never carries a fragment), by character code. */
const ALLOWED_CHARACTERS = "!$&'()*+,-./0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~%";
const ALLOWED = new Uint8Array(128);
for (let i = 0; i < ALLOWED_CHARACTERS.length; i++) ALLOWED[ALLOWED_CHARACTERS.charCodeAt(i)] = 1;
const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * `/` first, then only ALLOWED characters, no empty segment (`//`) and no dot segment (`/.` or `/..` followed
 * by `/` or the end) — in one pass over the characters: three regex and substring scans cost several times more
 * on every request.
 */
function isPlainPath(path: string): boolean {
  const length = path.length;
  if (length === 0 || path.charCodeAt(0) !== SLASH) return false;
  let previous = SLASH;
  for (let i = 1; i < length; i++) {
    const code = path.charCodeAt(i);
    if (code >= 128 || ALLOWED[code] === 0) return false;
    if (previous === SLASH) {
      if (code === SLASH) return false;
      if (code === DOT && isDotSegment(path, i)) return false;
    }
    previous = code;
  }
  return true;
}

/** The segment starting at `start` (a `.`) is `.` or `..`. */
function isDotSegment(path: string, start: number): boolean {
  let end = start + 1;
  if (end < path.length && path.charCodeAt(end) === DOT) end++;
  return end === path.length || path.charCodeAt(end) === SLASH;
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
