/**
 * Query-string surgery on raw request URLs, reading parameters the way the homeserver does. Synapse
 * (Twisted's `parse_qs`) splits the query on `&` **and** `;` and decodes each name (`+` is a space,
 * `%xx` escapes), so `?a=1;access%5Ftoken=x` carries an `access_token` to it: the gateway must find,
 * check and remove that one too. Everything the gateway keeps is forwarded byte for byte, in order.
 */

/** Twisted's separators: `&` and `;`. */
const SEPARATOR = /[&;]/;

export interface QueryParam {
  /** The decoded name. */
  name: string;
  /** The decoded value. */
  value: string;
}

/** Splits `url` into its path, the parameters whose decoded name is in `names`, and the rest (raw, in order). */
export function takeParams(url: string, names: ReadonlySet<string>): { path: string; taken: QueryParam[]; rest: string[] } {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return { path: url, taken: [], rest: [] };
  const taken: QueryParam[] = [];
  const rest: string[] = [];
  for (const param of url.slice(queryStart + 1).split(SEPARATOR)) {
    const eq = param.indexOf("=");
    const name = decodeQueryComponent(eq === -1 ? param : param.slice(0, eq));
    if (names.has(name)) taken.push({ name, value: decodeQueryComponent(eq === -1 ? "" : param.slice(eq + 1)) });
    else rest.push(param);
  }
  return { path: url.slice(0, queryStart), taken, rest };
}

/** The parameters kept, joined with `&` (the homeserver reads `&` and `;` alike). */
export function joinUrl(path: string, params: string[]): string {
  return params.length ? `${path}?${params.join("&")}` : path;
}

/** `url` without the parameters named in `names`. */
export function withoutParams(url: string, names: ReadonlySet<string>): string {
  if (!url.includes("?")) return url;
  const { path, taken, rest } = takeParams(url, names);
  return taken.length ? joinUrl(path, rest) : url;
}

export function withParam(url: string, name: string, value: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

/** The values of the parameter named `name` (decoded), in order; empty when absent. */
export function paramValues(url: string, name: string): string[] {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return [];
  const values: string[] = [];
  for (const param of url.slice(queryStart + 1).split(SEPARATOR)) {
    const eq = param.indexOf("=");
    if (decodeQueryComponent(eq === -1 ? param : param.slice(0, eq)) === name) {
      values.push(decodeQueryComponent(eq === -1 ? "" : param.slice(eq + 1)));
    }
  }
  return values;
}

/**
 * `url` with the value of every parameter whose decoded name is in `names` replaced by `replacement`
 * (for log lines); the same string when there is none.
 */
export function maskParams(url: string, names: ReadonlySet<string>, replacement: string): string {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return url;
  const query = url.slice(queryStart + 1);
  let out = "";
  let masked = false;
  let start = 0;
  // Walk the parameters keeping each separator as it was, so the line shows the query as sent.
  while (start <= query.length) {
    let end = start;
    while (end < query.length && query[end] !== "&" && query[end] !== ";") end++;
    const param = query.slice(start, end);
    const eq = param.indexOf("=");
    const name = decodeQueryComponent(eq === -1 ? param : param.slice(0, eq));
    if (names.has(name)) {
      out += `${eq === -1 ? param : param.slice(0, eq)}=${replacement}`;
      masked = true;
    } else {
      out += param;
    }
    if (end < query.length) out += query[end];
    start = end + 1;
  }
  return masked ? `${url.slice(0, queryStart)}?${out}` : url;
}

/** A query component as Twisted reads it (`+` is a space; a bad escape leaves the text as written). */
export function decodeQueryComponent(text: string): string {
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
