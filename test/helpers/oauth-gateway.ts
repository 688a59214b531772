/**
 * A gateway that is an OAuth 2.0 authorization server: `oauth.enabled: true`, a fresh RSA key for ID
 * tokens, and `public_baseurl` naming its own loopback address. The issuer must know its port before
 * it listens, so a free port is reserved first (and reserved again if another process took it in the
 * meantime).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Test } from "tap";
import { type StartOptions, startGateway, type TestGateway } from "./gateway.js";
import { freePort } from "./http.js";

export interface OAuthTestGateway extends TestGateway {
  /** `public_baseurl`, with its trailing slash: the issuer every client must see. */
  issuer: string;
}

export interface OAuthStartOptions extends StartOptions {
  /** More keys of the `oauth:` block, e.g. `consent: false`. */
  oauthYaml?: string;
}

/** A port taken between freePort() and listen() is a race with another test process: try again. */
const LISTEN_ATTEMPTS = 5;

export async function startOAuthGateway(t: Test, options: OAuthStartOptions = {}): Promise<OAuthTestGateway> {
  const keyFile = signingKeyFile(t);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}/`;
    const oauth = [`enabled: true`, `signing_key_file: "${keyFile}"`, options.oauthYaml].filter(Boolean).join(", ");
    const yaml = [`public_baseurl: "${issuer}"`, `oauth: {${oauth}}`, options.yaml ?? ""].join("\n");
    try {
      const gw = await startGateway(t, { ...options, yaml, port });
      return { ...gw, issuer };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= LISTEN_ATTEMPTS) throw error;
    }
  }
}

/** An RSA private key (PKCS#8 PEM) in a temporary directory removed at teardown. */
function signingKeyFile(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mag-oauth-key-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { privateKey } = crypto.generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const file = path.join(dir, "oauth-signing-key.pem");
  fs.writeFileSync(file, privateKey, { mode: 0o600 });
  return file;
}

/** What `POST registration_endpoint` answered. */
export interface Registration {
  status: number;
  headers: Headers;
  body: any;
}

/** Registers a client (RFC 7591) with plain fetch. */
export async function registerClient(gw: OAuthTestGateway, metadata: Record<string, unknown>): Promise<Registration> {
  return gw.request("/oauth2/registration", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(metadata),
  });
}

/** A native client on the loopback interface (RFC 8252 §7.3): any port is accepted at authorization. */
export const LOOPBACK_CLIENT = {
  client_name: "Loopback test client",
  client_uri: "https://client.example.com/",
  application_type: "native",
  redirect_uris: ["http://127.0.0.1/callback"],
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
};

/** Registers LOOPBACK_CLIENT (or a variant) and returns its client_id; a refusal throws. */
export async function registerLoopbackClient(gw: OAuthTestGateway, overrides: Record<string, unknown> = {}): Promise<string> {
  const reply = await registerClient(gw, { ...LOOPBACK_CLIENT, ...overrides });
  if (reply.status !== 201 || typeof reply.body?.client_id !== "string") {
    throw new Error(`registration failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  return reply.body.client_id;
}

/** The Matrix scope of one device (MSC2967), stable or unstable prefix. */
export function matrixScope(deviceId: string, prefix = "urn:matrix:client:", openid = true): string {
  return [openid ? "openid" : "", `${prefix}api:*`, `${prefix}device:${deviceId}`].filter(Boolean).join(" ");
}

/** A form-encoded POST (token and revocation endpoints, RFC 6749 §4.1.3, RFC 7009 §2.1). */
export function postForm(gw: OAuthTestGateway, path: string, params: Record<string, string>) {
  return gw.request(path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams(params).toString(),
  });
}
