/**
 * The authorization endpoint driven over plain HTTP, as a browser would without script: GET the
 * authorization URL, fill the login form (keeping its hidden fields — CSRF token, sealed request —
 * and the cookies the pages set), press the consent button when asked, and stop at the first
 * redirect that leaves the gateway: the client's redirect_uri with `code` (or `error`) and `state`.
 * Every page the gateway answered is kept, so tests can check their headers.
 */
import crypto from "node:crypto";
import { formBody, type HtmlForm, parseForms } from "./html-form.js";

export interface PageSeen {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

export interface FormAuthorization {
  /** Where the gateway finally sent the browser (outside the gateway): the redirect_uri with its parameters. */
  location: URL;
  /** Every answer of the gateway on the way, in order. */
  pages: PageSeen[];
}

export interface Credentials {
  username: string;
  password: string;
}

export const ALICE: Credentials = { username: "alice", password: "wonderland" };

/** A gateway page that should have led on but did not (no form, or the login form came back). */
export class StuckOnPage extends Error {
  constructor(
    message: string,
    readonly page: PageSeen,
  ) {
    super(`${message}: ${page.method} ${page.url} answered ${page.status}: ${page.body.slice(0, 400)}`);
  }
}

const MAX_STEPS = 8;

/** Follows the authorization flow from `authorizationUrl` until the gateway redirects elsewhere. */
export async function authorizeWithForms(authorizationUrl: string, credentials: Credentials = ALICE): Promise<FormAuthorization> {
  const gatewayOrigin = new URL(authorizationUrl).origin;
  const cookies = new Map<string, string>();
  const pages: PageSeen[] = [];

  const exchange = async (method: string, url: string, body?: URLSearchParams): Promise<PageSeen> => {
    const headers: Record<string, string> = { Accept: "text/html" };
    if (cookies.size > 0) headers.Cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    if (body) headers["Content-Type"] = "application/x-www-form-urlencoded";
    const response = await fetch(url, { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(30_000) });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";", 1)[0] ?? "";
      const eq = pair.indexOf("=");
      if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const page = { method, url, status: response.status, headers: response.headers, body: await response.text() };
    pages.push(page);
    return page;
  };

  let page = await exchange("GET", authorizationUrl);
  let submittedLogin = false;
  for (let step = 0; step < MAX_STEPS; step++) {
    const location = page.headers.get("location");
    if (page.status >= 300 && page.status < 400 && location) {
      const target = new URL(location, page.url);
      if (target.origin !== gatewayOrigin) return { location: target, pages };
      page = await exchange("GET", target.href);
      continue;
    }
    if (page.status !== 200) throw new StuckOnPage("the gateway answered neither a page nor a redirect", page);
    const forms = parseForms(page.body);
    const login = forms.find((form) => form.fields.some(([name]) => name === "password"));
    if (login) {
      if (submittedLogin) throw new StuckOnPage("the login form came back", page);
      submittedLogin = true;
      page = await submit(exchange, page.url, login, { username: credentials.username, password: credentials.password });
      continue;
    }
    const consent = forms.find((form) => form.buttons.some((button) => button.name === "consent"));
    if (consent) {
      page = await submit(exchange, page.url, consent, {}, "consent");
      continue;
    }
    throw new StuckOnPage("no login or consent form", page);
  }
  throw new StuckOnPage(`still on the gateway after ${MAX_STEPS} steps`, page);
}

function submit(
  exchange: (method: string, url: string, body?: URLSearchParams) => Promise<PageSeen>,
  pageUrl: string,
  form: HtmlForm,
  values: Record<string, string>,
  buttonName?: string,
): Promise<PageSeen> {
  const button = buttonName ? form.buttons.find((b) => b.name === buttonName) : form.buttons[0];
  const body = formBody(form, values, button);
  const action = new URL(form.action || pageUrl, pageUrl).href;
  if (form.method === "post") return exchange("POST", action, body);
  const url = new URL(action);
  url.search = body.toString();
  return exchange("GET", url.href);
}

/** PKCE (RFC 7636 §4.1–4.2): a verifier of 43 unreserved characters and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = crypto.randomBytes(32).toString("base64url");
  return { verifier, challenge: crypto.createHash("sha256").update(verifier).digest("base64url") };
}

export interface AuthorizationRequest {
  url: string;
  verifier: string;
  state: string;
  nonce: string;
}

/** An authorization URL as the clients build it; `params` overrides or removes (undefined) any parameter. */
export function authorizationRequest(
  issuer: string,
  clientId: string,
  redirectUri: string,
  scope: string,
  params: Record<string, string | undefined> = {},
): AuthorizationRequest {
  const { verifier, challenge } = pkcePair();
  const state = crypto.randomBytes(8).toString("hex");
  const nonce = crypto.randomBytes(8).toString("hex");
  const all: Record<string, string | undefined> = {
    response_type: "code",
    response_mode: "query",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge_method: "S256",
    code_challenge: challenge,
    ...params,
  };
  const url = new URL("oauth2/authorize", issuer);
  for (const [name, value] of Object.entries(all)) if (value !== undefined) url.searchParams.set(name, value);
  return { url: url.href, verifier, state, nonce };
}
