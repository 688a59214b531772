/** The token endpoint's success (RFC 6749 §5.1): the gateway's usual pair, in OAuth's words. */
import type { TokenGrant } from "../auth/sessions.js";

export interface TokenAnswer {
  access_token: string;
  token_type: "Bearer";
  /** Seconds (RFC 6749 §5.1), where the Matrix API says `expires_in_ms`. */
  expires_in: number;
  refresh_token: string | undefined;
  scope: string;
  id_token?: string;
}

export function tokenAnswer(grant: TokenGrant): TokenAnswer {
  return {
    access_token: grant.accessToken,
    token_type: "Bearer",
    expires_in: Math.floor(grant.expiresInMs / 1000),
    refresh_token: grant.refreshToken,
    scope: grant.session.oauth?.scope ?? "",
  };
}

/** OpenID Connect Core §3.1.3.3: `Cache-Control: no-store` and `Pragma: no-cache` on every answer, errors too. */
export const TOKEN_ENDPOINT_HEADERS: Readonly<Record<string, string>> = { "Cache-Control": "no-store", Pragma: "no-cache" };
