/**
 * How a proxied request is authorised at the homeserver (`upstream_identity.mode`):
 * - `session_token`: the homeserver access token the session got at login;
 * - `appservice`: the gateway is an application service. A session with a homeserver device of its own
 *   (`upstream_identity.devices`: logged in through the appservice) uses that device's token; any other
 *   carries the `as_token` and asserts the user with `user_id=@user:server` (Matrix spec, "Identity
 *   assertion"). Deciding per session keeps both kinds working across a reload that flips `devices`. A
 *   client can never choose who it is, nor use the other powers of the assertion: any `user_id`, `ts` or
 *   `device_id` it sends is removed first.
 */
import type { ActiveSession } from "../auth/sessions.js";
import { withoutParams, withParam } from "../http/query.js";

export interface UpstreamCredential {
  token: string;
  url: string;
  /** A rejection of this credential means the session itself is dead (true for session tokens only). */
  sessionBound: boolean;
}

export interface UpstreamIdentity {
  /** The credential and URL for a request of `session`. */
  forSession(session: ActiveSession, url: string): UpstreamCredential;
  /** A request forwarded without a session: identity-assertion parameters removed. */
  anonymous(url: string): string;
}

/**
 * Query parameters only an application service may set, so only the gateway: `user_id` (identity assertion),
 * `device_id` (MSC3202 / spec v1.7: acting as one of the user's devices) and `ts` (spec, Application Service
 * API, "Timestamp massaging": backdates the events it sends). Matched by decoded name (`user%5Fid` too).
 */
const ASSERTION_PARAMS = new Set(["user_id", "ts", "device_id", "org.matrix.msc3202.device_id"]);

export const sessionTokenIdentity: UpstreamIdentity = {
  forSession: (session, url) => ({ token: session.upstreamToken, url, sessionBound: true }),
  anonymous: (url) => url,
};

export function appserviceIdentity(asToken: string): UpstreamIdentity {
  return {
    forSession: (session, url) => {
      // A session logged in as a homeserver device uses that device's token; one without (empty) asserts its user.
      if (session.upstreamToken) return { token: session.upstreamToken, url: withoutParams(url, ASSERTION_PARAMS), sessionBound: true };
      return appserviceAssertion(asToken, session.userId, url);
    },
    anonymous: (url) => withoutParams(url, ASSERTION_PARAMS),
  };
}

/**
 * The `as_token` asserting `userId`, whatever credential the session has: for the requests the gateway has
 * put through its own user-interactive auth (routes/appservice-uia.ts), which a device token would send to
 * the homeserver's UIA, with a password the homeserver does not know.
 */
export function appserviceAssertion(asToken: string, userId: string, url: string): UpstreamCredential {
  return { token: asToken, url: withParam(withoutParams(url, ASSERTION_PARAMS), "user_id", userId), sessionBound: false };
}
