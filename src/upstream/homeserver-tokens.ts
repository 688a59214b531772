/**
 * The migration window (`migration.accept_homeserver_tokens_until`): clients logged in at the homeserver before
 * the gateway went in front hold the homeserver's own opaque tokens. Until the configured moment such a token is
 * checked with the homeserver (`GET /_matrix/client/v3/account/whoami`) and the request is proxied with it
 * unchanged; afterwards, or with the key unset, it is refused as today (401 M_UNKNOWN_TOKEN, soft_logout false),
 * and the client logs in again, this time at the gateway.
 *
 * Answers are cached per token (by its hash): a valid token `VALID_TTL_MS`, a refused one `INVALID_TTL_MS`, so
 * a client's every request does not cost a whoami and a bad token cannot make the gateway hammer the homeserver.
 */
import crypto from "node:crypto";
import type { Clock } from "../clock.js";
import { DEFAULT_ACCEPT_HOMESERVER_TOKENS_UNTIL } from "../config/defaults.js";
import { unknownToken, upstreamFailed } from "../http/errors.js";
import type { UpstreamClient } from "./client.js";

/** 60 s: a token the homeserver ends (logout elsewhere, deactivation) works through the gateway this long at most. */
export const VALID_TTL_MS = 60_000;
/** 10 s: a refused token is refused again without asking for this long. */
export const INVALID_TTL_MS = 10_000;
/** Entries kept at most; the oldest go first. */
const MAX_ENTRIES = 100_000;

export interface HomeserverTokens {
  /** Whether the window is open now. */
  accepts(): boolean;
  /**
   * The user the homeserver says the token belongs to; `401 M_UNKNOWN_TOKEN` when it does not know it.
   * `beforeAsking` runs when the answer is not cached, before the homeserver is asked (a rate limit: random
   * tokens must not turn into as many whoami calls).
   */
  userOf(token: string, clientAddress: string, beforeAsking?: () => unknown): Promise<string>;
  /** The token was logged out: forget its cached answer. */
  forget(token: string): void;
}

export function createHomeserverTokens(until: number | undefined, upstream: UpstreamClient, clock: Clock): HomeserverTokens {
  const deadline = until ?? DEFAULT_ACCEPT_HOMESERVER_TOKENS_UNTIL;
  const cache = new Map<string, { userId: string | undefined; expires: number }>();
  const keyOf = (token: string) => crypto.createHash("sha256").update(token).digest("base64url");
  const remember = (key: string, userId: string | undefined) => {
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(key, { userId, expires: clock.now() + (userId === undefined ? INVALID_TTL_MS : VALID_TTL_MS) });
  };
  return {
    accepts: () => deadline !== undefined && clock.now() < deadline,
    async userOf(token, clientAddress, beforeAsking) {
      const key = keyOf(token);
      const cached = cache.get(key);
      if (cached && cached.expires > clock.now()) {
        if (cached.userId === undefined) throw unknownToken();
        return cached.userId;
      }
      await beforeAsking?.();
      const reply = await upstream.get("/_matrix/client/v3/account/whoami", token, clientAddress);
      if (reply.status === 401 || reply.status === 403) {
        remember(key, undefined);
        throw unknownToken();
      }
      const userId = reply.body.user_id;
      // Anything else (the homeserver failing) is not an answer about the token: not cached.
      if (reply.status !== 200 || typeof userId !== "string") throw upstreamFailed();
      remember(key, userId);
      return userId;
    },
    forget(token) {
      cache.delete(keyOf(token));
    },
  };
}
