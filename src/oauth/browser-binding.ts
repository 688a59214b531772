/**
 * CSRF protection without server-side state (OWASP "Double Submit Cookie", the signed and encrypted variant):
 * a random value in an HttpOnly, SameSite=Strict cookie, and the same value inside every sealed form field.
 * Another site can make the browser post a form, but cannot read the cookie nor produce a seal holding it.
 * The value outlives one page (it is reused while the cookie lasts), so several tabs work side by side.
 */
import crypto from "node:crypto";
import type { IncomingMessage } from "node:http";
import { cookieHeader, readCookie } from "./cookies.js";
import type { Pages } from "./pages-context.js";

export const BINDING_COOKIE = "mag_oauth_binding";
const BINDING = /^[A-Za-z0-9_-]{22}$/;

/** The browser's binding value (its own if it has a well-formed one), and the cookie that keeps it for another TTL. */
export function bindingFor(pages: Pages, req: IncomingMessage): { value: string; setCookie: string } {
  const current = readCookie(req, BINDING_COOKIE);
  const value = current && BINDING.test(current) ? current : pages.ctx.random(16).toString("base64url");
  return { value, setCookie: cookieHeader(BINDING_COOKIE, value, pages.ttlMs, pages.cookies) };
}

/** Whether the sealed value `bound` is this browser's cookie. */
export function boundToBrowser(bound: unknown, req: IncomingMessage): boolean {
  const current = readCookie(req, BINDING_COOKIE);
  if (typeof bound !== "string" || current === undefined || bound.length !== current.length) return false;
  return crypto.timingSafeEqual(Buffer.from(bound), Buffer.from(current));
}
