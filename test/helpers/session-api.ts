/**
 * Small client-side helpers for the endpoints the gateway answers itself (login, refresh, logout),
 * shared by the route tests and the sqlite restart test.
 */
import type { Test } from "tap";
import type { FakeHomeserver } from "./fake-homeserver.js";
import { bearer, type TestGateway } from "./gateway.js";

export type Reply = Awaited<ReturnType<TestGateway["request"]>>;

/** The three client API generations of the contract: the seed and the two modern ones. */
export const SEED_PREFIX = "/_matrix/client/api/v1";
export const PREFIXES = [SEED_PREFIX, "/_matrix/client/r0", "/_matrix/client/v3"] as const;

/** The contract's two refresh forms; they share body and answer and differ only in how they fail. */
export interface RefreshForm {
  name: string;
  path: string;
  refusal: { status: number; errcode: string; extra: Record<string, unknown> };
}
export const SEED_REFRESH: RefreshForm = {
  name: "seed tokenrefresh",
  path: "/_matrix/client/api/v1/tokenrefresh",
  refusal: { status: 403, errcode: "M_FORBIDDEN", extra: {} },
};
export const SPEC_REFRESH_V1: RefreshForm = {
  name: "spec v1 refresh",
  path: "/_matrix/client/v1/refresh",
  refusal: { status: 401, errcode: "M_UNKNOWN_TOKEN", extra: { soft_logout: true } },
};
export const SPEC_REFRESH_V3: RefreshForm = { ...SPEC_REFRESH_V1, name: "spec v3 refresh", path: "/_matrix/client/v3/refresh" };
export const REFRESH_FORMS = [SEED_REFRESH, SPEC_REFRESH_V1, SPEC_REFRESH_V3];

/**
 * Spellings of the `access_token` query parameter that a query parser (the gateway's, the homeserver's)
 * decodes to `access_token`, so that the gateway reads each as the token (src/http/query.ts).
 */
export const ACCESS_TOKEN_NAMES = [
  "access_token",
  "access%5Ftoken",
  "access%5ftoken",
  "%61ccess_token",
  "access_tok%65n",
  "%61%63%63%65%73%73%5F%74%6F%6B%65%6E",
];

/** The CORS headers a homeserver sends (contract, "Browsers"). */
export const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "access-control-allow-headers": "X-Requested-With, Content-Type, Authorization, Date",
};

/** POSTs `body` as JSON (a string is sent as is, so tests can send broken JSON). */
export function postJson(gw: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return gw.request(path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function refresh(gw: TestGateway, refreshToken: unknown, form: RefreshForm = SPEC_REFRESH_V3, headers?: Record<string, string>) {
  return postJson(gw, form.path, { refresh_token: refreshToken }, headers);
}

export function whoami(gw: TestGateway, accessToken: string): Promise<Reply> {
  return gw.request("/_matrix/client/v3/account/whoami", { headers: bearer(accessToken) });
}

/**
 * Asserts a gateway-made error in full: status, a body of exactly `errcode`, `error` (a non-empty
 * string, or `message` when given) and `extra`, JSON content type and the CORS headers.
 */
export function expectError(
  t: Test,
  reply: Reply,
  status: number,
  errcode: string,
  extra: Record<string, unknown> = {},
  message?: string,
): void {
  t.equal(reply.status, status, `status ${status}`);
  t.same(reply.body, { errcode, error: message ?? reply.body?.error, ...extra }, `body is exactly ${errcode} ${JSON.stringify(extra)}`);
  t.type(reply.body?.error, "string");
  t.not(reply.body?.error, "", "error message is not empty");
  expectOwnHeaders(t, reply);
}

/** Every response the gateway makes itself is JSON and carries the CORS headers. */
export function expectOwnHeaders(t: Test, reply: Reply): void {
  t.match(reply.headers.get("content-type"), /^application\/json\b/, "Content-Type: application/json");
  for (const [name, value] of Object.entries(CORS)) t.equal(reply.headers.get(name), value, name);
}

/** Asserts that a refresh was refused the way `form` refuses. */
export function expectRefused(t: Test, reply: Reply, form: RefreshForm = SPEC_REFRESH_V3): void {
  expectError(t, reply, form.refusal.status, form.refusal.errcode, form.refusal.extra);
}

/**
 * Asserts the 401 of an access token whose session is gone (revoked, logged out, stolen chain), and
 * that the gateway refused it itself: the request never reached the homeserver (whose own 401 for a
 * logged-out upstream session would look the same to the client).
 */
export async function expectSessionRevoked(t: Test, gw: TestGateway, accessToken: string): Promise<void> {
  const before = gw.homeserver.received.length;
  expectError(t, await whoami(gw, accessToken), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
  const forwarded = gw.homeserver.received.slice(before).filter((r) => r.url.includes("/account/whoami"));
  t.equal(forwarded.length, 0, "refused by the gateway, not forwarded");
}

/** The homeserver's own access token for the device a login created (the session's upstream credential). */
export function upstreamTokenOf(homeserver: FakeHomeserver, deviceId: string): string {
  for (const [token, device] of homeserver.tokens) if (device.deviceId === deviceId) return token;
  throw new Error(`the homeserver has no token for device ${deviceId}`);
}

/** The parsed JSON bodies of every login the homeserver received. */
export function upstreamLoginBodies(homeserver: FakeHomeserver): Record<string, unknown>[] {
  return homeserver.received
    .filter((r) => r.method === "POST" && /\/login$/.test(r.url))
    .map((r) => JSON.parse(r.body) as Record<string, unknown>);
}

/** Header and payload of a compact JWS (not verified: for assertions only). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token
    .split(".")
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")));
  return { header, payload };
}

/** The session id inside a gateway access token (the `sid` claim). */
export function sessionIdOf(jwt: string): string {
  return decodeJwt(jwt).payload.sid as string;
}

/** Polls `check` until it returns true (for fire-and-forget side effects); false after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
