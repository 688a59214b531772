/**
 * Where the OAuth 2.0 API's endpoints are: every one under `public_baseurl`, so a gateway published at
 * `https://example.org/auth/` serves `/auth/oauth2/token`. The issuer is `public_baseurl` exactly, trailing
 * slash included (RFC 8414 §2; matrix-js-sdk compares the ID token's `iss` with it character for character).
 */
export interface OAuthUrls {
  issuer: string;
  authorization: string;
  token: string;
  registration: string;
  revocation: string;
  jwks: string;
  account: string;
}

export function oauthUrls(publicBaseurl: string): OAuthUrls {
  const at = (relative: string) => new URL(relative, publicBaseurl).href;
  return {
    issuer: publicBaseurl,
    authorization: at("oauth2/authorize"),
    token: at("oauth2/token"),
    registration: at("oauth2/registration"),
    revocation: at("oauth2/revoke"),
    jwks: at("oauth2/keys.json"),
    account: at("account/"),
  };
}

/** The path the router sees for one of these URLs. */
export function pathOf(url: string): string {
  return new URL(url).pathname;
}
