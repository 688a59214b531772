/**
 * Every default of the configuration file, as a named constant: the schema (schema.ts) applies them, the
 * documentation generator and a few modules read them. `config/gateway.example.yaml` shows the same values: keep them in step.
 */

/** Defaults to 1 process; `auto` = one worker per core (node:cluster), more need the sqlite or redis store. */
export const DEFAULT_WORKERS = 1;
/** Defaults to 127.0.0.1:8080: loopback until the operator decides otherwise. */
export const DEFAULT_LISTEN_HOST = "127.0.0.1";
export const DEFAULT_LISTEN_PORT = 8080;
/** Defaults to Synapse's own default listener. */
export const DEFAULT_UPSTREAM_URL = "http://127.0.0.1:8008";
/** Defaults to 60s: how long the upstream may stay silent before the gateway answers 504. */
export const DEFAULT_UPSTREAM_TIMEOUT = "60s";
/** Defaults to 5m: the longest `timeout` a long-poll (`/sync`, `/events`) may ask for; added to the upstream timeout. */
export const DEFAULT_MAX_LONG_POLL = "5m";
/**
 * Defaults to 1024 keep-alive sockets for short requests (0 = no cap). Long-polls (`/sync?timeout=…`) have a
 * pool of their own without a cap, so an online population never fills this one.
 */
export const DEFAULT_UPSTREAM_MAX_SOCKETS = 1024;
/** Defaults to 5s: a short request that waits this long for a socket of a full pool is answered 503. */
export const DEFAULT_UPSTREAM_SOCKET_WAIT = "5s";
/** Defaults to "matrix-auth-gateway": the `iss` claim of every access token. */
export const DEFAULT_JWT_ISSUER = "matrix-auth-gateway";
/**
 * Defaults to 5s: tolerance for clocks of several gateway instances on `iat` and `nbf` (RFC 8725: set it on
 * purpose). Never on `exp`: a token expires exactly when its `expires_in_ms` says.
 */
export const DEFAULT_CLOCK_SKEW = "5s";
/**
 * Defaults to 10000: access tokens whose signature was checked are remembered (about 400 bytes each, oldest
 * forgotten first), since a client sends the same token on every request until it refreshes. 0 verifies the
 * signature on every request. Expiry and revocation are checked on every request either way.
 */
export const DEFAULT_VERIFIED_CACHE_SIZE = 10_000;
/** Defaults to 5m, like Synapse's `refreshable_access_token_lifetime`. */
export const DEFAULT_ACCESS_TTL = "5m";
/** Defaults to 90d (the default session_max_age): clients that never refresh keep working until then. */
export const DEFAULT_NONREFRESHABLE_ACCESS_TTL = "90d";
/** Defaults to 30d: a refresh token unused this long is dead. */
export const DEFAULT_REFRESH_TTL = "30d";
/** Defaults to 90d: the absolute limit of one login. */
export const DEFAULT_SESSION_MAX_AGE = "90d";
/** Defaults to 30s (Okta's leeway): a lost refresh response can be retried. */
export const DEFAULT_REFRESH_REUSE_GRACE = "30s";
export const DEFAULT_STORE_TYPE = "sqlite";
export const DEFAULT_STORE_PATH = "./data/gateway.sqlite";
/** Defaults to a Redis on the same host (store.type: redis). */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** Defaults to "mag:": every key the gateway writes starts with it. */
export const DEFAULT_REDIS_KEY_PREFIX = "mag:";
/** Defaults to 500ms: no request waits longer on Redis; a dead Redis fails fast (503, or in-process rate limits). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT = "500ms";
/** Defaults to 5m: how long a session stays in the in-process cache between store reads. */
export const DEFAULT_SESSION_CACHE_TTL = "5m";
/**
 * Defaults to 1s: how often the gateway reads the store's revocation feed, so that a session ended by
 * another process sharing the store (a worker, the admin command) stops working here within this.
 */
export const DEFAULT_REVOCATION_POLL = "1s";
/** Defaults to 100000 sessions kept in the in-process cache. */
export const DEFAULT_SESSION_CACHE_SIZE = 100_000;
/** Defaults to 10s: a client must send its whole header block within this (slowloris). */
export const DEFAULT_HEADERS_TIMEOUT = "10s";
/** Defaults to 120s: a client must send its whole request, body included, within this. */
export const DEFAULT_REQUEST_TIMEOUT = "120s";
/** Defaults to 65s: idle client keep-alive connections are closed after this. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT = "65s";
/** Defaults to 64KiB: the largest body of a request the gateway parses itself (login, refresh, logout). */
export const DEFAULT_MAX_JSON_BODY = "64KiB";
/** Defaults to 1MiB: the largest body forwarded to the homeserver, media uploads aside (Synapse refuses events over 64KiB anyway). */
export const DEFAULT_MAX_BODY = "1MiB";
/** Defaults to 50MiB, like Synapse's `max_upload_size`: the largest media upload (and passthrough body). */
export const DEFAULT_MAX_UPLOAD_BODY = "50MiB";
/** Defaults to 30s: how long SIGTERM waits for in-flight requests. */
export const DEFAULT_SHUTDOWN_TIMEOUT = "30s";
export const DEFAULT_LOG_LEVEL = "info";
/**
 * Defaults to 2KiB: request log lines are written when this much has gathered, or every 250 ms, instead of one
 * write per line. `0B` writes each at once. Other log lines are never held back.
 */
export const DEFAULT_LOG_BUFFER = "2KiB";
/**
 * Defaults to unset: a token that is not the gateway's is refused (401 M_UNKNOWN_TOKEN). Set to an ISO 8601 date
 * (00:00 UTC of that day) or date-time, homeserver tokens issued before the switch keep working until then.
 */
export const DEFAULT_ACCEPT_HOMESERVER_TOKENS_UNTIL: number | undefined = undefined;
/** Defaults to 5m: an authorization code unexchanged this long is dead (RFC 6749 §4.1.2 allows at most 10m). */
export const DEFAULT_OAUTH_CODE_TTL = "5m";
/**
 * Defaults to 10m: how long a sign-in on the account page lasts, and how long a login form stays valid
 * before it must be loaded again.
 */
export const DEFAULT_OAUTH_BROWSER_SESSION_TTL = "10m";
/** Defaults to loopback: metrics are for the operator's scraper, not the world. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/**
 * Endpoints forwarded without a token (a token that is present is still checked and swapped).
 * Patterns: `*` is one path segment, `**` any rest, `{a,b}` alternatives.
 */
export const DEFAULT_PUBLIC_ENDPOINTS = [
  "GET /_matrix/client/versions",
  "GET /.well-known/matrix/**",
  "GET,POST /_matrix/client/{api/v1,r0,v3}/register",
  "GET /_matrix/client/{api/v1,r0,v3,v1}/register/**",
  "POST /_matrix/client/{api/v1,r0,v3,v1}/register/**",
  "POST /_matrix/client/{r0,v3}/account/password",
  "POST /_matrix/client/{r0,v3}/account/password/{email,msisdn}/requestToken",
  "GET /_matrix/client/{api/v1,r0,v3}/publicRooms",
  "GET /_matrix/client/{api/v1,r0,v3}/profile/**",
  "GET /_matrix/client/{api/v1,r0,v3}/login/sso/redirect/**",
  "GET /_matrix/client/{api/v1,r0,v3}/login/sso/redirect",
  "GET /_matrix/media/{v1,r0,v3}/download/**",
  "GET /_matrix/media/{v1,r0,v3}/thumbnail/**",
  "GET /_matrix/media/{r0,v3}/preview_url",
];

/**
 * Rate-limit defaults. A limit is `points` per `duration` (a fixed window), optionally blocking the key for
 * `block` once exceeded, or in Synapse's terms `{per_second, burst_count}`: a token bucket — `burst_count`
 * requests at once, then one more every `1/per_second` seconds. Synapse's defaults (≥ 1.79) are the gateway's.
 */
export type LimitDefault = { points: number; duration: string; block?: string } | { per_second: number; burst_count: number };
/** Any login attempt from one address: Synapse's rc_login.address, 0.003/s burst 5 (5, then one every ~5.5 min). */
export const DEFAULT_LOGIN_PER_ADDRESS: LimitDefault = { per_second: 0.003, burst_count: 5 };
/** Successful logins of one account: Synapse's rc_login.account, 0.003/s burst 5. */
export const DEFAULT_LOGIN_PER_ACCOUNT: LimitDefault = { per_second: 0.003, burst_count: 5 };
/** Failed logins of one account, from anywhere: Synapse's rc_login.failed_attempts, 0.17/s burst 3. */
export const DEFAULT_LOGIN_FAILED_PER_ACCOUNT: LimitDefault = { per_second: 0.17, burst_count: 3 };
/** Failed logins of one account from one address: 3 per 5 minutes, then locked 5 minutes (the gateway's own). */
export const DEFAULT_LOGIN_FAILED_PER_ADDRESS_ACCOUNT: LimitDefault = { points: 3, duration: "5m", block: "5m" };
/** Refreshes from one address: 60 per minute. */
export const DEFAULT_REFRESH_PER_ADDRESS: LimitDefault = { points: 60, duration: "1m" };
/** Refreshes of one session: 10 per minute (a client refreshes every few minutes). */
export const DEFAULT_REFRESH_PER_SESSION: LimitDefault = { points: 10, duration: "1m" };
/** Registration requests from one address: Synapse's rc_registration, 0.17/s burst 3. */
export const DEFAULT_REGISTRATION_PER_ADDRESS: LimitDefault = { per_second: 0.17, burst_count: 3 };
/** Defaults to 3 then one every 10 s, like account registration: OAuth client registrations from one address. */
export const DEFAULT_OAUTH_REGISTRATION_PER_ADDRESS: LimitDefault = { per_second: 0.1, burst_count: 3 };
/** Other requests without a token from one address: 120 per minute. */
export const DEFAULT_PUBLIC_PER_ADDRESS: LimitDefault = { points: 120, duration: "1m" };
/** Authenticated requests of one user, all routes: 600 per minute. */
export const DEFAULT_PER_USER: LimitDefault = { points: 600, duration: "1m" };
/** Route classes, per user. `send`: Synapse's rc_message (0.2/s, burst 10); `join`: rc_joins.local (0.1/s, burst 10). */
export const DEFAULT_ROUTE_CLASSES: Record<string, LimitDefault & { match: string[] }> = {
  send: { match: ["PUT /_matrix/client/{api/v1,r0,v3}/rooms/*/send/**"], per_second: 0.2, burst_count: 10 },
  join: {
    match: ["POST /_matrix/client/{api/v1,r0,v3}/join/*", "POST /_matrix/client/{api/v1,r0,v3}/rooms/*/join"],
    per_second: 0.1,
    burst_count: 10,
  },
};
/**
 * Requests without a token (login, refresh, registration, public endpoints) in flight from one address at
 * once: 64. Authenticated requests count against their user instead, so users behind one NAT do not share a cap.
 */
export const DEFAULT_MAX_IN_FLIGHT_PER_ADDRESS = 64;
/** Authenticated requests of one user in flight at once (long-polls of all their devices included): 64. */
export const DEFAULT_MAX_IN_FLIGHT_PER_USER = 64;
/** IPv6 clients are keyed by their /64: one host usually owns the whole prefix. */
export const DEFAULT_IPV6_PREFIX = 64;
