/**
 * Which redirect URIs a client may register (Matrix spec v1.15 "Client registration", MSC2966; RFC 8252 for
 * native apps). Never a fragment (RFC 6749 §3.1.2). A web client: https on client_uri's host or a subdomain
 * of it. A native client: that too, or a private-use scheme that is client_uri's host reversed (or a subdomain
 * of it reversed: `com.example.app:/callback` for `https://example.com`) without an authority (RFC 8252 §7.1),
 * or a loopback `http://127.0.0.1`, `http://[::1]` or `http://localhost` without a port (RFC 8252 §7.3: any
 * port is accepted at authorization).
 */

export type ApplicationType = "web" | "native";

/** The loopback hosts a native app may redirect to over plain http (RFC 8252 §7.3), as `URL.hostname` spells them. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** Why `uri` may not be registered for a client at `clientHost`, or `undefined` when it may. */
export function redirectUriProblem(uri: string, applicationType: ApplicationType, clientHost: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "is not a URL";
  }
  if (uri.includes("#")) return "must not have a fragment";
  if (url.username || url.password) return "must not carry credentials";
  if (url.protocol === "https:") {
    return onHost(url.hostname, clientHost) ? undefined : `must be on ${clientHost} or a subdomain of it`;
  }
  if (applicationType === "web") return "must be https";
  if (url.protocol === "http:") {
    if (!LOOPBACK_HOSTS.has(url.hostname)) return "http is only for loopback: http://127.0.0.1, http://[::1] or http://localhost";
    return url.port === "" ? undefined : "a loopback redirect URI is registered without a port (any port is then accepted)";
  }
  const scheme = url.protocol.slice(0, -1);
  if (uri.startsWith(`${scheme}://`)) return "a private-use scheme takes no authority: write scheme:/path";
  const domain = scheme.split(".").reverse().join(".");
  if (!scheme.includes(".") || !onHost(domain, clientHost)) {
    return `a private-use scheme must be the reverse of ${clientHost} or of a subdomain of it (e.g. ${clientHost.split(".").reverse().join(".")})`;
  }
  return undefined;
}

/** `host` is `base` or a subdomain of it. */
export function onHost(host: string, base: string): boolean {
  return host === base || host.endsWith(`.${base}`);
}
