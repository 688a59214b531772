/**
 * Query-string surgery on raw request URLs: parameters are matched by their decoded name (so
 * `access%5Ftoken` is `access_token`, as the upstream would read it) and everything else is kept
 * byte for byte, in order.
 */

/** Splits `url` into its path and the parameters whose decoded name is in `names`, and the rest. */
export function takeParams(
  url: string,
  names: ReadonlySet<string>,
): { path: string; taken: { name: string; value: string }[]; rest: string[] } {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return { path: url, taken: [], rest: [] };
  const taken: { name: string; value: string }[] = [];
  const rest: string[] = [];
  for (const param of url.slice(queryStart + 1).split("&")) {
    const eq = param.indexOf("=");
    const name = decodeQueryComponent(eq === -1 ? param : param.slice(0, eq));
    if (names.has(name)) taken.push({ name, value: decodeQueryComponent(eq === -1 ? "" : param.slice(eq + 1)) });
    else rest.push(param);
  }
  return { path: url.slice(0, queryStart), taken, rest };
}

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

/** A query component as a query parser reads it (`+` is a space; a bad escape leaves the text as written). */
export function decodeQueryComponent(text: string): string {
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
