/**
 * Header objects for what the forwarder sends on (upstream request fields, relayed response fields), and the
 * fields a `Connection` header names, which belong to one hop only.
 */

/** `Connection` values that name no field beyond the hop-by-hop ones: nearly every request and response. */
const PLAIN_CONNECTION = /^\s*(keep-alive|close)\s*$/i;

/**
 * Header objects are built fresh rather than edited: `delete` turns a V8 object into a slow dictionary,
 * which every later step (http-proxy-3 copies the fields, Node validates each) pays for. Their prototype
 * has no properties, so any field name — `__proto__` and `constructor` included — is an ordinary field.
 */
const NO_INHERITED_FIELDS: object = Object.freeze(Object.create(null));
export function newHeaderFields<T>(): Record<string, T> {
  return Object.create(NO_INHERITED_FIELDS) as Record<string, T>;
}

/**
 * Fields a `Connection` header names are for this hop only (RFC 9110 §7.6.1). `Connection: host` is
 * ignored: dropping Host would make the upstream see its own address instead of the client's Host.
 */
export function connectionNamed(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined || connection === "keep-alive" || connection === "close") return undefined;
  const value = Array.isArray(connection) ? connection.join(",") : connection;
  if (PLAIN_CONNECTION.test(value)) return undefined;
  const named = new Set(value.split(",").map((name) => name.trim().toLowerCase()));
  named.delete("host");
  return named;
}
