/**
 * Reading `GET authorization_endpoint` (RFC 6749 §4.1.1, RFC 7636 §4.3, spec v1.15 "Authorization code grant").
 * The client and its redirect URI come first: until both are known good, nothing may be redirected and the
 * person sees a page (RFC 6749 §4.1.2.1). Every later problem goes back to the client at its redirect URI,
 * as `error` with the `state`.
 */
import type { OAuthClient, Store } from "../store/store.js";
import { PageError } from "./page-error.js";
import { matchesRegistered, type ResponseMode } from "./redirect-uri.js";
import { parseScope } from "./scope.js";

/** A request that passed every check: what the login form carries forward, sealed. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  responseMode: ResponseMode;
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string;
  /** The scope as granted (normalized). */
  scope: string;
  deviceId: string;
  /** `login_hint` (`mxid:@user:server`), to fill the username in. */
  loginHint: string | undefined;
}

/** A problem to report to the client at its (verified) redirect URI. */
export interface AuthorizationFailure {
  redirectUri: string;
  responseMode: ResponseMode;
  state: string | undefined;
  error: "invalid_request" | "invalid_scope" | "unsupported_response_type";
  description: string;
}

export type ReadRequest = { ok: true; request: AuthorizationRequest; client: OAuthClient } | { ok: false; failure: AuthorizationFailure };

/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters; the grammar allows 43 to 128. */
const CODE_CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;

/** Throws `PageError` for an unknown client or redirect URI; otherwise the request or the failure to redirect. */
export async function readAuthorizationRequest(params: URLSearchParams, store: Store): Promise<ReadRequest> {
  const clientId = single(params, "client_id");
  const client = clientId ? await store.getClient(clientId) : undefined;
  if (!client) {
    throw new PageError(400, "Unknown application", "The application that sent you here is not registered with this server.");
  }
  const redirectUri = single(params, "redirect_uri");
  const registered = Array.isArray(client.metadata.redirect_uris) ? client.metadata.redirect_uris : [];
  if (!redirectUri || !matchesRegistered(redirectUri, registered, client.metadata.application_type === "native")) {
    throw new PageError(
      400,
      "Unknown redirect address",
      "The application asked to be sent back to an address it did not register, so you are not sent anywhere.",
    );
  }

  const mode = params.get("response_mode");
  const responseMode: ResponseMode = mode === "fragment" ? "fragment" : "query";
  const state = params.get("state") ?? undefined;
  const fail = (error: AuthorizationFailure["error"], description: string): ReadRequest => ({
    ok: false,
    failure: { redirectUri, responseMode, state, error, description },
  });
  // RFC 6749 §3.1: no parameter may be sent twice.
  for (const name of new Set(params.keys())) {
    if (params.getAll(name).length > 1) return fail("invalid_request", `${name} is repeated`);
  }
  if (mode !== null && mode !== "query" && mode !== "fragment") return fail("invalid_request", "response_mode must be query or fragment");
  const responseType = params.get("response_type");
  if (responseType === null) return fail("invalid_request", "response_type is missing");
  if (responseType !== "code") return fail("unsupported_response_type", "only response_type=code is supported");
  const codeChallenge = params.get("code_challenge");
  if (params.get("code_challenge_method") !== "S256") return fail("invalid_request", "code_challenge_method must be S256");
  if (!codeChallenge || !CODE_CHALLENGE.test(codeChallenge)) return fail("invalid_request", "code_challenge is missing or malformed");
  const scope = parseScope(params.get("scope") ?? undefined);
  if (!scope) {
    return fail("invalid_scope", "the scope must hold urn:matrix:client:api:* and exactly one urn:matrix:client:device:<id>");
  }
  const hint = params.get("login_hint");
  return {
    ok: true,
    client,
    request: {
      clientId: client.id,
      redirectUri,
      responseMode,
      state,
      nonce: params.get("nonce") ?? undefined,
      codeChallenge,
      scope: scope.normalized,
      deviceId: scope.deviceId,
      loginHint: hint?.startsWith("mxid:") ? hint.slice("mxid:".length) : undefined,
    },
  };
}

/** A parameter sent once; a repeated client_id or redirect_uri cannot be trusted either way. */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}
