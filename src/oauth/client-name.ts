/** How the pages name a registered client (RFC 7591 §2 metadata, as the registration endpoint stored it). */
import type { OAuthClient } from "../store/store.js";

/** `client_name`, else the host of `client_uri`, else the client ID. */
export function clientName(client: OAuthClient): string {
  const name = client.metadata.client_name;
  if (typeof name === "string" && name.trim() !== "") return name.trim();
  return clientHost(client) ?? client.id;
}

/** The host of `client_uri`, the site the client says it belongs to. */
export function clientHost(client: OAuthClient): string | undefined {
  const uri = client.metadata.client_uri;
  if (typeof uri !== "string") return undefined;
  try {
    return new URL(uri).host;
  } catch {
    return undefined;
  }
}
