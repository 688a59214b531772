/**
 * For tests of the OAuth browser pages over plain HTTP: a gateway with OAuth on and a client planted in its
 * store, a browser-like client (a cookie jar, redirects not followed), and small readers for the HTML.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Test } from "tap";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/store.js";
import { type StartOptions, startGateway, type TestGateway } from "./gateway.js";

export const PUBLIC_BASEURL = "https://matrix.example.org/";
export const STABLE = "urn:matrix:client:";
export const UNSTABLE = "urn:matrix:org.matrix.msc2967.client:";
export const WEB_CLIENT = "web-client-id";
export const NATIVE_CLIENT = "native-client-id";
export const WEB_REDIRECT = "https://app.example.com/callback";
/** PKCE (RFC 7636 appendix B). */
export const VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
export const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/** An RSA key for `oauth.signing_key_file`, written once per process. */
function signingKeyFile(): string {
  const file = path.join(os.tmpdir(), `mag-oauth-pages-${process.pid}.pem`);
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    fs.writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  return file;
}

export interface OAuthGateway extends TestGateway {
  store: Store;
}

/** A gateway with OAuth on, public_baseurl `PUBLIC_BASEURL`, and a web and a native client registered. */
export async function startOAuthGateway(
  t: Test,
  options: StartOptions & { oauthYaml?: string; baseurl?: string; store?: Store } = {},
): Promise<OAuthGateway> {
  const store = options.store ?? createMemoryStore();
  const yaml = [
    `public_baseurl: "${options.baseurl ?? PUBLIC_BASEURL}"`,
    `oauth: {enabled: true, signing_key_file: "${signingKeyFile()}"${options.oauthYaml ? `, ${options.oauthYaml}` : ""}}`,
    options.yaml ?? "",
  ].join("\n");
  const gw = await startGateway(t, { ...options, yaml, deps: { store, ...options.deps } });
  await store.saveClient({
    id: WEB_CLIENT,
    metadata: {
      client_name: "Example Chat",
      client_uri: "https://app.example.com/",
      redirect_uris: [WEB_REDIRECT],
      application_type: "web",
      token_endpoint_auth_method: "none",
    },
    createdAt: gw.clock.now(),
  });
  await store.saveClient({
    id: NATIVE_CLIENT,
    metadata: {
      client_uri: "https://native.example.net/",
      redirect_uris: ["http://127.0.0.1/callback", "net.example.native:/callback"],
      application_type: "native",
      token_endpoint_auth_method: "none",
    },
    createdAt: gw.clock.now(),
  });
  return { ...gw, store };
}

/** The query of an authorization request; `overrides` replace (or, as `undefined`, remove) parameters. */
export function authorizeQuery(overrides: Record<string, string | undefined> = {}): string {
  const params: Record<string, string | undefined> = {
    response_type: "code",
    client_id: WEB_CLIENT,
    redirect_uri: WEB_REDIRECT,
    scope: `openid ${UNSTABLE}api:* ${UNSTABLE}device:DEVICE1`,
    state: "state-123",
    nonce: "nonce-456",
    code_challenge: CHALLENGE,
    code_challenge_method: "S256",
    response_mode: "query",
    ...overrides,
  };
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, value);
  return query.toString();
}

export interface PageReply {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** A browser: keeps cookies (by name; the test gateway is one origin), never follows redirects. */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  async get(pathAndQuery: string): Promise<PageReply> {
    return this.send(pathAndQuery, { method: "GET" });
  }

  async post(pathAndQuery: string, fields: Record<string, string>): Promise<PageReply> {
    return this.send(pathAndQuery, {
      method: "POST",
      body: new URLSearchParams(fields).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
  }

  private async send(pathAndQuery: string, init: RequestInit): Promise<PageReply> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("Cookie", [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    const response = await fetch(this.base + pathAndQuery, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/max-age=0(;|$)/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: response.status, headers: response.headers, text: await response.text(), location: response.headers.get("location") };
  }
}

/** The value attribute of the input named `name`, or undefined. */
export function inputValue(html: string, name: string): string | undefined {
  for (const match of html.matchAll(/<input\b[^>]*>/g)) {
    const tag = match[0];
    if (new RegExp(`\\bname="${name}"`).test(tag)) return decodeEntities(/\bvalue="([^"]*)"/.exec(tag)?.[1] ?? "");
  }
  return undefined;
}

/** The text of the element with role="alert", if any. */
export function alertText(html: string): string | undefined {
  const match = /role="alert">([^<]*)</.exec(html);
  return match ? decodeEntities(match[1] as string) : undefined;
}

export function decodeEntities(text: string): string {
  return text.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)));
}
