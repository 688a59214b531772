/**
 * Shared by the rate-limit tests: a gateway with limits on and rate-limiter-flexible's clock tied to the
 * gateway's ManualClock, small request helpers, and the one assertion for the contract's 429 answer.
 */
import type { Test } from "tap";
import { type StartOptions, startGateway, type TestGateway } from "../helpers/gateway.js";

/** Large enough never to be reached in a test: isolates the limit a test is about. */
export const LOOSE = { points: 100_000, duration: "1h" };

/** Every login policy loose, except the ones given. */
export function loginLimits(overrides: Record<string, unknown> = {}) {
  return { per_address: LOOSE, per_account: LOOSE, failed_per_account: LOOSE, failed_per_address_account: LOOSE, ...overrides };
}

/** `rate_limits:` as YAML text (JSON is YAML flow syntax), limits on. */
export function rateLimitsYaml(block: Record<string, unknown> = {}): string {
  return `rate_limits: ${JSON.stringify({ enabled: true, ...block })}`;
}

/**
 * A gateway with the given `rate_limits` block. rate-limiter-flexible's memory store compares its
 * records' `expiresAt` with `Date.now()`, so Date.now follows the gateway's ManualClock for this test
 * (tap restores it at teardown): windows then open and close only when the test advances the clock.
 */
export async function startLimited(t: Test, block: Record<string, unknown>, options: StartOptions = {}): Promise<TestGateway> {
  const gw = await startGateway(t, { ...options, rateLimits: rateLimitsYaml(block) });
  t.capture(Date, "now", () => gw.clock.now());
  return gw;
}

/** `X-Forwarded-For` as a trusted proxy (127.0.0.1) would send it: the gateway then sees `address`. */
export const from = (address: string | undefined): Record<string, string> => (address ? { "X-Forwarded-For": address } : {});

export interface LoginAttempt {
  user?: string;
  password?: string;
  /** Client address, sent as X-Forwarded-For (needs `trusted_proxies: [127.0.0.1]`). */
  address?: string;
  /** A raw body instead of a password login. */
  rawBody?: string;
}

/** POST v3/login (modern identifier form); a wrong password unless one is given. */
export function login(gw: TestGateway, { user = "alice", password = "wrong", address, rawBody }: LoginAttempt = {}) {
  const body = rawBody ?? JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password });
  return gw.request("/_matrix/client/v3/login", {
    method: "POST",
    body,
    headers: { "Content-Type": "application/json", ...from(address) },
  });
}

/** Login attempts the fake homeserver saw for a user (it records the full user ID the gateway sends). */
export const homeserverLogins = (gw: TestGateway, userId = "@alice:example.org") =>
  gw.homeserver.logins.filter((entry) => entry.user === userId).length;

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/**
 * The contract's answer to an exceeded limit: `429 {"errcode":"M_LIMIT_EXCEEDED","error":…,"retry_after_ms":N}`,
 * `Retry-After: ceil(N/1000)`, and the limit's `RateLimit-*` headers with nothing remaining.
 */
export function assertLimited(t: Test, reply: Reply, expected: { retryAfterMs: number; limit: number }, what = "request") {
  t.equal(reply.status, 429, `${what}: 429`);
  t.strictSame(
    reply.body,
    { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: expected.retryAfterMs },
    `${what}: body`,
  );
  t.equal(reply.headers.get("content-type"), "application/json", `${what}: JSON`);
  t.equal(reply.headers.get("retry-after"), String(Math.ceil(expected.retryAfterMs / 1000)), `${what}: Retry-After`);
  t.equal(reply.headers.get("ratelimit-limit"), String(expected.limit), `${what}: RateLimit-Limit`);
  t.equal(reply.headers.get("ratelimit-remaining"), "0", `${what}: RateLimit-Remaining`);
  t.equal(reply.headers.get("ratelimit-reset"), String(Math.ceil(expected.retryAfterMs / 1000)), `${what}: RateLimit-Reset`);
}

/** The `RateLimit-*` headers of a reply (null where absent). */
export const rateLimitHeaders = (reply: Reply) => ({
  limit: reply.headers.get("ratelimit-limit"),
  remaining: reply.headers.get("ratelimit-remaining"),
  reset: reply.headers.get("ratelimit-reset"),
});
