/**
 * A gateway with the OAuth 2.0 API on (`public_baseurl` https://matrix.example.org/, an RSA ID-token key
 * made here) and an injected memory store, so tests can plant authorization codes as the authorization
 * page would; small helpers for the form-encoded endpoints.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Test } from "tap";
import { newSessionId } from "../../src/auth/sessions.js";
import { secureRandom } from "../../src/clock.js";
import { newAuthorizationCode } from "../../src/oauth/code.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { AuthorizationCode, Store } from "../../src/store/store.js";
import { type StartOptions, startGateway, type TestGateway } from "./gateway.js";

export const ISSUER = "https://matrix.example.org/";
export const CLIENT_ID = "test-client";
export const REDIRECT_URI = "https://app.example.com/callback";
export const SCOPE = "openid urn:matrix:client:api:* urn:matrix:client:device:DEVICE1";

let pem: string | undefined;
/** One RSA key per test process (making one takes a while). */
export function rsaPrivateKeyPem(): string {
  pem ??= crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return pem;
}

/** Writes the key to a fresh file (mode 0600) and returns its path. */
export function writeKeyFile(t: Test, text = rsaPrivateKeyPem(), mode = 0o600): string {
  const file = path.join(t.testdir({}), "oauth-signing.pem");
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  return file;
}

export interface OAuthGateway extends TestGateway {
  store: Store;
  /** POSTs a form (`application/x-www-form-urlencoded`). */
  postForm(path: string, fields: Record<string, string>, headers?: Record<string, string>): ReturnType<TestGateway["request"]>;
  /** A code as the authorization page stores it, after a real homeserver login for `device`. */
  plantCode(overrides?: Partial<AuthorizationCode> & { user?: string; password?: string }): Promise<PlantedCode>;
}

export interface PlantedCode {
  code: string;
  verifier: string;
  record: AuthorizationCode;
}

export async function startOAuthGateway(t: Test, options: StartOptions & { oauthYaml?: string } = {}): Promise<OAuthGateway> {
  const store = createMemoryStore();
  const keyFile = writeKeyFile(t);
  const yaml = [
    `public_baseurl: ${ISSUER}`,
    options.oauthYaml ?? `oauth: {enabled: true, signing_key_file: "${keyFile}"}`,
    options.yaml ?? "",
  ].join("\n");
  const gw = await startGateway(t, { ...options, yaml, deps: { store, ...options.deps } });

  const postForm: OAuthGateway["postForm"] = (urlPath, fields, headers = {}) =>
    gw.request(urlPath, {
      method: "POST",
      body: new URLSearchParams(fields).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    });

  const plantCode: OAuthGateway["plantCode"] = async ({ user = "alice", password = "wonderland", ...overrides } = {}) => {
    const deviceId = overrides.deviceId ?? "DEVICE1";
    const login = await fetch(`${gw.homeserver.url}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password, device_id: deviceId }),
    });
    const upstream = (await login.json()) as { access_token: string; user_id: string };
    const verifier = secureRandom(32).toString("base64url");
    const { code, hash } = newAuthorizationCode(secureRandom);
    const now = gw.clock.now();
    const record: AuthorizationCode = {
      hash,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      scope: SCOPE,
      codeChallenge: crypto.createHash("sha256").update(verifier).digest("base64url"),
      nonce: "nonce-123",
      userId: upstream.user_id,
      deviceId,
      upstreamToken: upstream.access_token,
      sessionId: newSessionId(secureRandom),
      createdAt: now,
      expiresAt: now + 5 * 60_000,
      ...overrides,
    };
    await store.saveCode(record);
    return { code, verifier, record };
  };

  return { ...gw, store, postForm, plantCode };
}

/** The form of a code exchange that should succeed. */
export function codeExchange(planted: PlantedCode, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: "authorization_code",
    code: planted.code,
    redirect_uri: REDIRECT_URI,
    client_id: CLIENT_ID,
    code_verifier: planted.verifier,
    ...overrides,
  };
}
