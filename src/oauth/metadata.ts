/**
 * Authorization server metadata (RFC 8414 §2), served at the Matrix discovery paths (spec v1.15
 * `auth_metadata`, MSC2965) and at the OpenID Connect and RFC 8414 well-known paths. Only what is
 * implemented is advertised: clients read a listed value as a promise.
 */
import { sendJson } from "../http/respond.js";
import type { Handler } from "../routes/context.js";
import { type OAuthUrls, pathOf } from "./urls.js";

/** Matrix discovery (spec v1.15 and MSC2965's unstable path, which matrix-js-sdk 37 and matrix-rust-sdk call). */
export const AUTH_METADATA_PATHS = ["/_matrix/client/v1/auth_metadata", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"];

/** MSC4191 account-management actions the account page serves (their MSC4191 aliases are accepted too). */
export const ACCOUNT_MANAGEMENT_ACTIONS = ["org.matrix.devices_list", "org.matrix.device_view", "org.matrix.device_delete"];

export function serverMetadata(urls: OAuthUrls): Record<string, unknown> {
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    registration_endpoint: urls.registration,
    revocation_endpoint: urls.revocation,
    jwks_uri: urls.jwks,
    response_types_supported: ["code"],
    response_modes_supported: ["query", "fragment"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none"],
    id_token_signing_alg_values_supported: ["RS256"],
    account_management_uri: urls.account,
    account_management_actions_supported: ACCOUNT_MANAGEMENT_ACTIONS,
  };
}

/**
 * Every path the document is served at: the two Matrix ones, `{issuer}.well-known/openid-configuration`
 * (OpenID Connect Discovery §4, which matrix-js-sdk also fetches) and RFC 8414 §3.1's
 * `/.well-known/oauth-authorization-server`, with the issuer's path appended when it has one.
 */
export function metadataPaths(urls: OAuthUrls): string[] {
  const issuerPath = pathOf(urls.issuer);
  const paths = [...AUTH_METADATA_PATHS, `${issuerPath}.well-known/openid-configuration`, "/.well-known/oauth-authorization-server"];
  if (issuerPath !== "/") paths.push(`/.well-known/oauth-authorization-server${issuerPath.slice(0, -1)}`);
  return paths;
}

/** Cacheable briefly: a reload that changes `public_baseurl` reaches clients within a minute. */
export function createMetadataHandler(urls: OAuthUrls): Handler {
  const document = serverMetadata(urls);
  return (_req, res) => sendJson(res, 200, document, { "Cache-Control": "public, max-age=60" });
}
