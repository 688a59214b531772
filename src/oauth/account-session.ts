/**
 * The account page's sign-in, kept by the browser: a sealed cookie (oauth/seal.ts) naming the user and a random
 * id, HttpOnly and SameSite=Strict, for `oauth.browser_session_ttl`. Its forms carry a sealed copy of that id
 * (the CSRF token): another site can neither read the cookie nor make a token that matches it.
 */
import type { IncomingMessage } from "node:http";
import { cookieHeader, readCookie } from "./cookies.js";
import type { Pages } from "./pages-context.js";

export const ACCOUNT_COOKIE = "mag_account";

export interface AccountSession {
  userId: string;
  sid: string;
}

export async function openAccountSession(pages: Pages, req: IncomingMessage): Promise<AccountSession | undefined> {
  const payload = await pages.sealer.open("account-session", readCookie(req, ACCOUNT_COOKIE));
  if (!payload || typeof payload.sub !== "string" || typeof payload.sid !== "string") return undefined;
  return { userId: payload.sub, sid: payload.sid };
}

/** A new signed-in session's `Set-Cookie`. */
export async function accountSessionCookie(pages: Pages, userId: string): Promise<string> {
  const sid = pages.ctx.random(16).toString("base64url");
  const sealed = await pages.sealer.seal("account-session", { sub: userId, sid }, pages.ttlMs);
  return cookieHeader(ACCOUNT_COOKIE, sealed, pages.ttlMs, { ...pages.cookies, path: pages.accountPath });
}

export function signedOutCookie(pages: Pages): string {
  return cookieHeader(ACCOUNT_COOKIE, "", 0, { ...pages.cookies, path: pages.accountPath });
}

/** The CSRF token of the session's forms. */
export function formToken(pages: Pages, session: AccountSession): Promise<string> {
  return pages.sealer.seal("account-form", { sid: session.sid }, pages.ttlMs);
}

export async function validFormToken(pages: Pages, session: AccountSession, token: string | null): Promise<boolean> {
  const payload = await pages.sealer.open("account-form", token ?? undefined);
  return payload?.sid === session.sid;
}
