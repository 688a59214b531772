/**
 * Which limits apply where, and in which order. Login follows Synapse's order: the address limit, the
 * failed-attempts check, the password, then the account limit on success only — except that the
 * account limit is checked (not counted) before the password, so a login the gateway would refuse
 * never creates a session on the homeserver. Each attempt that reaches the password check is counted
 * as failed in advance and given back when it succeeds or is never checked: a check followed by a later
 * count would let a batch of concurrent guesses all pass before the first failure is counted.
 */

import type { Config } from "../config/schema.js";
import { MatrixError } from "../http/errors.js";
import { compileEndpoints } from "../proxy/endpoint-pattern.js";
import { addressKey } from "./address-key.js";
import { createInFlightLimiter } from "./in-flight.js";
import { type Limiter, type LimiterFactory, type LimitState, toLimit } from "./limiter.js";

type RateLimitConfig = Config["rate_limits"];

/** `RateLimit-*` headers (IETF draft-ietf-httpapi-ratelimit-headers) for a limited route's answer. */
export type RateLimitHeaders = Record<string, string>;

export interface RateLimits {
  /**
   * Counts a request without a token in flight for the address; throws 429 at the cap (nothing counted then).
   * Returns the key to give back to `leaveInFlight`, or `undefined` when nothing was counted (limits off).
   */
  enterInFlight(address: string): string | undefined;
  /** The same for an authenticated request, counted against its user (exempt users: nothing counted). */
  enterInFlightUser(userId: string): string | undefined;
  /** A request counted by `enterInFlight*` has ended (its response closed). */
  leaveInFlight(key: string): void;
  /** Counts any login attempt from the address (first, before the body is read). */
  loginAttempt(address: string): Promise<RateLimitHeaders>;
  /**
   * Refuses a login whose account is over its success limit or locked by failures; otherwise reserves a
   * success and counts the attempt as failed in advance, so that concurrent attempts cannot slip past either
   * limit. Settle it with `loginSucceeded`, `loginRefused` (a wrong password: the success is given back) or
   * `loginUnchecked` (the password was never judged: both are given back).
   */
  loginAllowed(address: string, userId: string): Promise<void>;
  loginRefused(address: string, userId: string): Promise<void>;
  loginUnchecked(address: string, userId: string): Promise<void>;
  loginSucceeded(address: string, userId: string): Promise<void>;
  /**
   * A password asked again for an authenticated user (the gateway's user-interactive auth in appservice mode):
   * only the failed-attempt limits apply, as Synapse applies `rc_login.failed_attempts` to its own — it starts
   * no session, so the account's success limit neither refuses nor counts it. The attempt is counted as failed
   * in advance, like a login's; settle a right password with `loginSucceeded`.
   */
  reauthAllowed(address: string, userId: string): Promise<void>;
  /** Counts any refresh attempt from the address (first, before the body is read). */
  refreshAttempt(address: string): Promise<RateLimitHeaders>;
  /** Counts a refresh of one token chain (`family`), from any address; the headers of the tighter limit. */
  refreshOfSession(family: string, addressHeaders: RateLimitHeaders): Promise<RateLimitHeaders>;
  /**
   * Counts a request without a token against its address. Synchronous (a 429 thrown at once) when the counters
   * live in this process, as for `authenticated`.
   */
  unauthenticated(address: string, method: string, path: string): RateLimitHeaders | Promise<RateLimitHeaders>;
  /** Counts an OAuth dynamic client registration (RFC 7591) from the address. */
  oauthRegistration(address: string): Promise<RateLimitHeaders>;
  /**
   * Counts an authenticated request against its user and route classes. Synchronous — no promise, a 429 thrown at
   * once — when nothing needs counting (limits off, an exempt user) or the counters live in this process (the
   * memory backend) or a cluster worker's leases hold them (leased.ts): the hot path stays off the microtask
   * queue. A promise with Redis counters, or when the primary process must be asked.
   */
  authenticated(userId: string, method: string, path: string): RateLimitHeaders | Promise<RateLimitHeaders>;
}

const NO_HEADERS: RateLimitHeaders = Object.freeze({}) as RateLimitHeaders;

export const noRateLimits: RateLimits = {
  enterInFlight: () => undefined,
  enterInFlightUser: () => undefined,
  leaveInFlight() {},
  loginAttempt: async () => NO_HEADERS,
  loginAllowed: async () => {},
  loginRefused: async () => {},
  loginUnchecked: async () => {},
  loginSucceeded: async () => {},
  reauthAllowed: async () => {},
  refreshAttempt: async () => NO_HEADERS,
  refreshOfSession: async () => NO_HEADERS,
  unauthenticated: () => NO_HEADERS,
  oauthRegistration: async () => NO_HEADERS,
  authenticated: () => NO_HEADERS,
};

/** Every spelling the gateway serves registration on (router.ts): none may fall back to the looser public limit. */
const REGISTRATION = compileEndpoints(["POST /_matrix/client/{api/v1,r0,v3,unstable}/register"]);

export function createRateLimits(
  config: RateLimitConfig,
  build: LimiterFactory,
  onLimited: (policy: string) => void = () => {},
): RateLimits {
  if (!config.enabled) return noRateLimits;
  const key = (address: string) => addressKey(address, config.ipv6_prefix);
  const inFlightByAddress = createInFlightLimiter(config.max_in_flight_per_address);
  const inFlightByUser = createInFlightLimiter(config.max_in_flight_per_user);
  const tooManyInFlight = () => {
    onLimited("in_flight");
    return new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many concurrent requests", { retry_after_ms: 1000 }, { "Retry-After": "1" });
  };
  const allow = (state: LimitState): LimitState => {
    if (state.allowed) return state;
    onLimited(state.policy);
    throw limitExceeded(state);
  };

  const loginAddress = build("login_address", toLimit(config.login.per_address));
  const loginAccount = build("login_account", toLimit(config.login.per_account));
  const failedAccount = build("login_failed_account", toLimit(config.login.failed_per_account));
  const failedAddressAccount = build("login_failed_address_account", toLimit(config.login.failed_per_address_account));
  const refreshAddress = build("refresh_address", toLimit(config.refresh.per_address));
  const refreshSession = build("refresh_session", toLimit(config.refresh.per_session));
  const registration = build("registration_address", toLimit(config.registration.per_address));
  const publicAddress = build("public_address", toLimit(config.public.per_address));
  const oauthRegistration = build("oauth_registration_address", toLimit(config.oauth_registration.per_address));
  const perUser = build("user", toLimit(config.per_user));
  const classes = Object.entries(config.routes).map(([name, routeClass]) => ({
    matcher: compileEndpoints(routeClass.match),
    limiter: build(`route_${name}`, toLimit(routeClass)),
  }));
  const exempt = new Set(config.exempt_users);
  // Every limiter of authenticated requests counts in this process: they are answered without a promise.
  const authenticatedNow = perUser.consumeNow !== undefined && classes.every((c) => c.limiter.consumeNow !== undefined);

  return {
    enterInFlight(address) {
      // Address keys start with a digit or a colon, user IDs with "@": one key space serves both limiters.
      const addressKeyed = key(address);
      if (!inFlightByAddress.enter(addressKeyed)) throw tooManyInFlight();
      return addressKeyed;
    },
    enterInFlightUser(userId) {
      if (exempt.has(userId)) return undefined;
      if (!inFlightByUser.enter(userId)) throw tooManyInFlight();
      return userId;
    },
    leaveInFlight(inFlightKey) {
      if (inFlightKey.startsWith("@")) inFlightByUser.leave(inFlightKey);
      else inFlightByAddress.leave(inFlightKey);
    },
    async loginAttempt(address) {
      return headersOf(allow(await loginAddress.consume(key(address))));
    },
    async loginAllowed(address, userId) {
      const account = userId.toLowerCase();
      const pair = `${key(address)} ${account}`;
      // The success is reserved now and given back when the password is wrong: checked and counted in one
      // step, concurrent correct logins cannot all pass a limit that has room for one more. Counting past the
      // limit is also what starts its `block`.
      allow(await loginAccount.consume(account));
      const failures = await failedAccount.consume(account);
      if (!failures.allowed) {
        await loginAccount.refund(account);
        allow(failures);
      }
      const byPair = await failedAddressAccount.consume(pair);
      if (!byPair.allowed) {
        await Promise.all([loginAccount.refund(account), failedAccount.refund(account)]);
        allow(byPair);
      }
    },
    async loginRefused(_address, userId) {
      await loginAccount.refund(userId.toLowerCase());
    },
    async loginUnchecked(address, userId) {
      const account = userId.toLowerCase();
      await Promise.all([
        loginAccount.refund(account),
        failedAccount.refund(account),
        failedAddressAccount.refund(`${key(address)} ${account}`),
      ]);
    },
    async loginSucceeded(address, userId) {
      const account = userId.toLowerCase();
      await Promise.all([failedAccount.refund(account), failedAddressAccount.reset(`${key(address)} ${account}`)]);
    },
    async reauthAllowed(address, userId) {
      const account = userId.toLowerCase();
      allow(await failedAccount.consume(account));
      const byPair = await failedAddressAccount.consume(`${key(address)} ${account}`);
      if (!byPair.allowed) {
        await failedAccount.refund(account);
        allow(byPair);
      }
    },
    async refreshAttempt(address) {
      return headersOf(allow(await refreshAddress.consume(key(address))));
    },
    async refreshOfSession(family, addressHeaders) {
      const state = allow(await refreshSession.consume(family));
      return state.remaining < Number(addressHeaders["RateLimit-Remaining"]) ? headersOf(state) : addressHeaders;
    },
    unauthenticated(address, method, path) {
      const limiter = REGISTRATION.matches(method, path) ? registration : publicAddress;
      const addressKeyed = key(address);
      if (limiter.consumeNow !== undefined) return headersOf(allow(limiter.consumeNow(addressKeyed)));
      return limiter.consume(addressKeyed).then((state) => headersOf(allow(state)));
    },
    async oauthRegistration(address) {
      return headersOf(allow(await oauthRegistration.consume(key(address))));
    },
    authenticated(userId, method, path) {
      if (exempt.has(userId)) return NO_HEADERS;
      if (authenticatedNow) return countAuthenticatedNow(userId, method, path);
      return perUser.consumeLeased !== undefined
        ? countAuthenticatedLeased(userId, method, path)
        : countAuthenticated(userId, method, path);
    },
  };

  /** `countAuthenticated` for counters of this process: the same counts in the same order, without a promise. */
  function countAuthenticatedNow(userId: string, method: string, path: string): RateLimitHeaders {
    let state = allow((perUser.consumeNow as NonNullable<Limiter["consumeNow"]>)(userId));
    // An indexed loop: no iterator per request. Each limiter's state is its own object, so `tightest` may keep either.
    for (let i = 0; i < classes.length; i++) {
      const routeClass = classes[i] as (typeof classes)[number];
      if (!routeClass.matcher.matches(method, path)) continue;
      state = tightest(state, allow((routeClass.limiter.consumeNow as NonNullable<Limiter["consumeNow"]>)(userId)));
    }
    return headersOf(state);
  }

  /**
   * The same counts for a cluster worker: answered at once while its leases hold them (leased.ts), continued with
   * a promise from the first limiter that must ask the primary.
   */
  function countAuthenticatedLeased(userId: string, method: string, path: string): RateLimitHeaders | Promise<RateLimitHeaders> {
    const first = perUser.consumeLeased?.(userId);
    if (first === undefined) return countAuthenticated(userId, method, path);
    let state = allow(first);
    for (let i = 0; i < classes.length; i++) {
      const routeClass = classes[i] as (typeof classes)[number];
      if (!routeClass.matcher.matches(method, path)) continue;
      const now = routeClass.limiter.consumeLeased?.(userId);
      // A copy: the leased states are rewritten by the next request while this one waits.
      if (now === undefined) return countAuthenticated(userId, method, path, { ...state }, i);
      state = tightest(state, allow(now));
    }
    return headersOf(state);
  }

  /** Counts against the user, then its route classes from `from` on (`counted`: the state of those before). */
  async function countAuthenticated(
    userId: string,
    method: string,
    path: string,
    counted?: LimitState,
    from = 0,
  ): Promise<RateLimitHeaders> {
    let state = counted ?? allow(await perUser.consume(userId));
    for (let i = from; i < classes.length; i++) {
      const routeClass = classes[i] as (typeof classes)[number];
      if (routeClass.matcher.matches(method, path)) state = tightest(state, allow(await routeClass.limiter.consume(userId)));
    }
    return headersOf(state);
  }
}

function tightest(a: LimitState, b: LimitState): LimitState {
  return b.remaining < a.remaining ? b : a;
}

/** `429 M_LIMIT_EXCEEDED` with `retry_after_ms`, `Retry-After` and the `RateLimit-*` headers. */
export function limitExceeded(state: LimitState): MatrixError {
  const retryAfterMs = Math.max(1, state.resetMs);
  return new MatrixError(
    429,
    "M_LIMIT_EXCEEDED",
    "Too many requests",
    { retry_after_ms: retryAfterMs },
    { "Retry-After": String(Math.ceil(retryAfterMs / 1000)), ...headersOf(state) },
  );
}

function headersOf(state: LimitState): RateLimitHeaders {
  return {
    "RateLimit-Limit": String(state.limit),
    "RateLimit-Remaining": String(state.remaining),
    "RateLimit-Reset": String(Math.ceil(state.resetMs / 1000)),
  };
}

export type { Limiter };
