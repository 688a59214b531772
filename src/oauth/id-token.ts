/**
 * ID tokens (OpenID Connect Core §2) for logins whose scope has `openid`, signed RS256 with
 * `oauth.signing_key_file`, and the JWK set (RFC 7517) that publishes the key's public half at `jwks_uri`.
 * The access tokens' keys are published elsewhere (`/.well-known/jwks.json`): this set holds only the ID-token key.
 */
import { SignJWT } from "jose";
import type { OAuthSigningKey } from "../config/oauth.js";

/** Long enough for a client to check it right after the code exchange; it is never used again. */
const ID_TOKEN_TTL_S = 10 * 60;

export interface IdTokenClaims {
  issuer: string;
  clientId: string;
  userId: string;
  nonce: string | undefined;
  /** Milliseconds since the epoch (the gateway's clock). */
  now: number;
}

export function signIdToken(key: OAuthSigningKey, claims: IdTokenClaims): Promise<string> {
  const iat = Math.floor(claims.now / 1000);
  const jwt = new SignJWT(claims.nonce === undefined ? {} : { nonce: claims.nonce })
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" })
    .setIssuer(claims.issuer)
    .setAudience(claims.clientId)
    .setSubject(claims.userId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ID_TOKEN_TTL_S);
  return jwt.sign(key.privateKey);
}

/** `{"keys": [the ID-token key]}` with its kid, `alg` and `use` (RFC 7517 §4). */
export function idTokenJwks(key: OAuthSigningKey): { keys: Record<string, unknown>[] } {
  const { kty, n, e } = key.publicKey.export({ format: "jwk" });
  return { keys: [{ kty, n, e, kid: key.kid, alg: "RS256", use: "sig" }] };
}
