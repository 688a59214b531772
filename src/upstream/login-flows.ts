/**
 * What `GET …/login` advertises. In the delegated mode (`credentials.source: upstream`) the homeserver checks
 * the credentials, so the gateway lists the homeserver's own flows (its `GET /_matrix/client/v3/login`):
 * `m.login.sso` with its `identity_providers`, `m.login.cas`, `m.login.token` (with `get_login_token` where the
 * homeserver says so) and `m.login.password` — never `m.login.application_service`, which no client may use
 * through the gateway (contract). Otherwise the gateway checks passwords itself: `m.login.password` only.
 *
 * The homeserver's answer is kept `FLOWS_TTL_MS`; a failed fetch keeps the last good list (or the password flow
 * when there is none yet) and is retried `FLOWS_RETRY_MS` later, not a minute later. Concurrent requests share
 * one fetch.
 */
import type { Clock } from "../clock.js";
import type { Logger } from "../observability/log.js";
import type { UpstreamClient } from "./client.js";

export interface LoginFlowsBody {
  flows: Record<string, unknown>[];
}

export type LoginFlows = () => Promise<LoginFlowsBody>;

/** 60 s: a new identity provider shows up within a minute, and a busy login page costs one call a minute. */
export const FLOWS_TTL_MS = 60_000;
/** The types a client can complete through the gateway: the homeserver checks them, the gateway wraps the session. */
/** 5 s: after a failure, the next request after this asks again (a busy login page never hammers a failing homeserver). */
export const FLOWS_RETRY_MS = 5_000;
const FORWARDED_TYPES = new Set(["m.login.password", "m.login.token", "m.login.sso", "m.login.cas"]);
const PASSWORD_ONLY: LoginFlowsBody = Object.freeze({ flows: [{ type: "m.login.password" }] }) as LoginFlowsBody;

export const passwordFlowOnly: LoginFlows = async () => PASSWORD_ONLY;

export function homeserverLoginFlows(upstream: UpstreamClient, clock: Clock, logger: Logger): LoginFlows {
  let cached: LoginFlowsBody | undefined;
  /** Until when the current answer (`cached`, or the fallback after a failure) stands. */
  let freshUntil = Number.NEGATIVE_INFINITY;
  let pending: Promise<LoginFlowsBody> | undefined;

  const fetchFlows = async (): Promise<LoginFlowsBody> => {
    try {
      const reply = await upstream.get("/_matrix/client/v3/login");
      const flows = reply.body.flows;
      if (reply.status !== 200 || !Array.isArray(flows)) throw new Error(`answered ${reply.status}`);
      cached = { flows: flows.filter(isForwardedFlow) };
      freshUntil = clock.now() + FLOWS_TTL_MS;
    } catch (error) {
      freshUntil = clock.now() + FLOWS_RETRY_MS;
      logger.warn({ err: (error as Error).message }, "reading the homeserver's login flows failed");
    }
    return cached ?? PASSWORD_ONLY;
  };

  return () => {
    if (clock.now() < freshUntil) return Promise.resolve(cached ?? PASSWORD_ONLY);
    pending ??= fetchFlows().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

function isForwardedFlow(flow: unknown): flow is Record<string, unknown> {
  return typeof flow === "object" && flow !== null && FORWARDED_TYPES.has((flow as { type?: unknown }).type as string);
}
