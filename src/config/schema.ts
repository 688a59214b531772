/**
 * The configuration file's shape; its defaults are the named constants of defaults.ts.
 * `config/gateway.example.yaml` shows the same keys with the same defaults: keep them in step.
 */
import { z } from "zod";
import {
  DEFAULT_ACCESS_TTL,
  DEFAULT_CLOCK_SKEW,
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_IPV6_PREFIX,
  DEFAULT_JWT_ISSUER,
  DEFAULT_KEEP_ALIVE_TIMEOUT,
  DEFAULT_LISTEN_HOST,
  DEFAULT_LISTEN_PORT,
  DEFAULT_LOG_BUFFER,
  DEFAULT_LOG_LEVEL,
  DEFAULT_LOGIN_FAILED_PER_ACCOUNT,
  DEFAULT_LOGIN_FAILED_PER_ADDRESS_ACCOUNT,
  DEFAULT_LOGIN_PER_ACCOUNT,
  DEFAULT_LOGIN_PER_ADDRESS,
  DEFAULT_MAX_BODY,
  DEFAULT_MAX_IN_FLIGHT_PER_ADDRESS,
  DEFAULT_MAX_IN_FLIGHT_PER_USER,
  DEFAULT_MAX_JSON_BODY,
  DEFAULT_MAX_LONG_POLL,
  DEFAULT_MAX_UPLOAD_BODY,
  DEFAULT_METRICS_HOST,
  DEFAULT_NONREFRESHABLE_ACCESS_TTL,
  DEFAULT_OAUTH_BROWSER_SESSION_TTL,
  DEFAULT_OAUTH_CODE_TTL,
  DEFAULT_OAUTH_REGISTRATION_PER_ADDRESS,
  DEFAULT_PER_USER,
  DEFAULT_PUBLIC_ENDPOINTS,
  DEFAULT_PUBLIC_PER_ADDRESS,
  DEFAULT_REDIS_COMMAND_TIMEOUT,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_REDIS_URL,
  DEFAULT_REFRESH_PER_ADDRESS,
  DEFAULT_REFRESH_PER_SESSION,
  DEFAULT_REFRESH_REUSE_GRACE,
  DEFAULT_REFRESH_TTL,
  DEFAULT_REGISTRATION_PER_ADDRESS,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_REVOCATION_POLL,
  DEFAULT_SESSION_CACHE_SIZE,
  DEFAULT_SESSION_CACHE_TTL,
  DEFAULT_SESSION_MAX_AGE,
  DEFAULT_SHUTDOWN_TIMEOUT,
  DEFAULT_STORE_PATH,
  DEFAULT_STORE_TYPE,
  DEFAULT_UPSTREAM_MAX_SOCKETS,
  DEFAULT_UPSTREAM_SOCKET_WAIT,
  DEFAULT_UPSTREAM_TIMEOUT,
  DEFAULT_UPSTREAM_URL,
  DEFAULT_VERIFIED_CACHE_SIZE,
  DEFAULT_WORKERS,
} from "./defaults.js";
import type { JwtKey } from "./jwt-keys.js";
import type { OAuthSigningKey } from "./oauth.js";
import {
  checkLimitForm,
  cidr,
  duration,
  endpointPattern,
  flag,
  httpUrl,
  type LimitFields,
  limit,
  limitFields,
  moment,
  numeric,
  publicBaseUrl,
  size,
  synapseLimit,
} from "./value-types.js";
import type { ConfigWarning } from "./warnings.js";

export type { LimitFields };

const prefix = z.string().regex(/^\/[^\s?#]*\/$/, { message: "must be a path prefix starting and ending with /" });

export const configSchema = z.strictObject({
  workers: z.union([z.literal("auto"), numeric(z.number().int().min(1).max(256))]).default(DEFAULT_WORKERS),
  server_name: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, { message: "must be a Matrix server name, e.g. example.org" }),
  listen: z
    .strictObject({
      host: z.string().min(1).default(DEFAULT_LISTEN_HOST),
      port: numeric(z.number().int().min(0).max(65535)).default(DEFAULT_LISTEN_PORT),
    })
    .prefault({}),
  upstream: z
    .strictObject({
      url: httpUrl.default(DEFAULT_UPSTREAM_URL),
      timeout: duration.prefault(DEFAULT_UPSTREAM_TIMEOUT),
      max_long_poll: duration.prefault(DEFAULT_MAX_LONG_POLL),
      max_sockets: numeric(z.number().int().min(0)).default(DEFAULT_UPSTREAM_MAX_SOCKETS),
      socket_wait: duration.prefault(DEFAULT_UPSTREAM_SOCKET_WAIT),
    })
    .prefault({}),
  jwt: z.strictObject({
    secret: z.string().optional(),
    secret_file: z.string().min(1).optional(),
    create_secret_file: flag().default(false),
    keys: z
      .array(
        z.strictObject({
          kid: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: "a kid is 1-64 characters of A-Z a-z 0-9 . _ -" }),
          algorithm: z.enum(["HS256", "RS256", "ES256"]),
          secret: z.string().optional(),
          secret_file: z.string().min(1).optional(),
          private_key_file: z.string().min(1).optional(),
          public_key_file: z.string().min(1).optional(),
        }),
      )
      .optional(),
    signing_key: z.string().min(1).optional(),
    issuer: z.string().min(1).default(DEFAULT_JWT_ISSUER),
    audience: z.string().min(1).optional(),
    clock_skew: duration.prefault(DEFAULT_CLOCK_SKEW),
    verified_cache_size: numeric(z.number().int().min(0)).default(DEFAULT_VERIFIED_CACHE_SIZE),
  }),
  tokens: z
    .strictObject({
      access_ttl: duration.prefault(DEFAULT_ACCESS_TTL),
      nonrefreshable_access_ttl: duration.prefault(DEFAULT_NONREFRESHABLE_ACCESS_TTL),
      refresh_ttl: duration.prefault(DEFAULT_REFRESH_TTL),
      session_max_age: duration.prefault(DEFAULT_SESSION_MAX_AGE),
      refresh_reuse_grace: duration.prefault(DEFAULT_REFRESH_REUSE_GRACE),
    })
    .prefault({}),
  store: z
    .strictObject({
      type: z.enum(["sqlite", "memory", "redis"]).default(DEFAULT_STORE_TYPE),
      path: z.string().min(1).default(DEFAULT_STORE_PATH),
      url: z
        .string()
        .regex(/^rediss?:\/\/\S+$/, { message: "must be a redis:// or rediss:// URL" })
        .default(DEFAULT_REDIS_URL),
      redis: z
        .strictObject({
          key_prefix: z.string().default(DEFAULT_REDIS_KEY_PREFIX),
          command_timeout: duration.prefault(DEFAULT_REDIS_COMMAND_TIMEOUT),
        })
        .prefault({}),
      encryption_key: z.string().optional(),
      encryption_key_file: z.string().min(1).optional(),
      cache_ttl: duration.prefault(DEFAULT_SESSION_CACHE_TTL),
      cache_size: numeric(z.number().int().positive()).default(DEFAULT_SESSION_CACHE_SIZE),
      revocation_poll: duration.prefault(DEFAULT_REVOCATION_POLL),
    })
    .prefault({}),
  credentials: z
    .strictObject({
      /** How a password is checked: by the homeserver's own login, or against a users file. */
      source: z.enum(["upstream", "users_file"]).default("upstream"),
      users_file: z.string().min(1).optional(),
    })
    .prefault({}),
  upstream_identity: z
    .strictObject({
      /** How proxied requests are authorised upstream: the session's homeserver token, or appservice assertion. */
      mode: z.enum(["session_token", "appservice"]).default("session_token"),
      as_token: z.string().min(1).optional(),
      as_token_file: z.string().min(1).optional(),
      /** Register users unknown to the homeserver through the appservice API on their first login. */
      register_users: flag().default(false),
      /**
       * With appservice: each login also logs the user in at the homeserver through the appservice
       * (`m.login.application_service`), so every session is a homeserver device with a token of its own.
       */
      devices: flag().default(false),
    })
    .prefault({}),
  registration: z
    .strictObject({
      /** Default: true with session_token (registrations are wrapped like logins), false with appservice. */
      enabled: flag().optional(),
    })
    .prefault({}),
  /** Where clients reach the gateway; the OAuth issuer. Required with `oauth.enabled`. */
  public_baseurl: publicBaseUrl.optional(),
  oauth: z
    .strictObject({
      enabled: flag().default(false),
      /** RSA private key (PEM) that signs ID tokens (RS256); its public half is served at the JWKS URI. */
      signing_key_file: z.string().min(1).optional(),
      code_ttl: duration
        .prefault(DEFAULT_OAUTH_CODE_TTL)
        .refine((ms) => ms > 0 && ms <= 600_000, { message: "must be at most 10m (RFC 6749 §4.1.2)" }),
      consent: flag().default(true),
      browser_session_ttl: duration.prefault(DEFAULT_OAUTH_BROWSER_SESSION_TTL),
    })
    .prefault({}),
  trusted_proxies: z.array(cidr).default([]),
  public_endpoints: z.array(endpointPattern).default(DEFAULT_PUBLIC_ENDPOINTS),
  passthrough_prefixes: z.array(prefix).default([]),
  rate_limits: z
    .strictObject({
      enabled: flag().default(true),
      ipv6_prefix: numeric(z.number().int().min(1).max(128)).default(DEFAULT_IPV6_PREFIX),
      max_in_flight_per_address: numeric(z.number().int().positive()).default(DEFAULT_MAX_IN_FLIGHT_PER_ADDRESS),
      max_in_flight_per_user: numeric(z.number().int().positive()).default(DEFAULT_MAX_IN_FLIGHT_PER_USER),
      login: z
        .strictObject({
          per_address: limit(DEFAULT_LOGIN_PER_ADDRESS),
          per_account: limit(DEFAULT_LOGIN_PER_ACCOUNT),
          failed_per_account: limit(DEFAULT_LOGIN_FAILED_PER_ACCOUNT),
          failed_per_address_account: limit(DEFAULT_LOGIN_FAILED_PER_ADDRESS_ACCOUNT),
        })
        .prefault({}),
      refresh: z
        .strictObject({
          per_address: limit(DEFAULT_REFRESH_PER_ADDRESS),
          per_session: limit(DEFAULT_REFRESH_PER_SESSION),
        })
        .prefault({}),
      registration: z.strictObject({ per_address: limit(DEFAULT_REGISTRATION_PER_ADDRESS) }).prefault({}),
      oauth_registration: z.strictObject({ per_address: limit(DEFAULT_OAUTH_REGISTRATION_PER_ADDRESS) }).prefault({}),
      public: z.strictObject({ per_address: limit(DEFAULT_PUBLIC_PER_ADDRESS) }).prefault({}),
      per_user: limit(DEFAULT_PER_USER),
      /** Classes by name; a built-in name (send, join) may omit `match` to keep the built-in patterns. */
      routes: z
        .record(
          z.string().regex(/^[a-z][a-z0-9_]*$/, { message: "route class names are lower-case words" }),
          z.strictObject({ match: z.array(endpointPattern).min(1).optional(), ...limitFields }).superRefine(checkLimitForm),
        )
        .default({}),
      /**
       * Synapse's blocks, accepted as pasted from homeserver.yaml; each replaces the gateway limit it maps onto
       * (config/load.ts): rc_login.address → login.per_address, .account → login.per_account, .failed_attempts →
       * login.failed_per_account, rc_registration → registration.per_address, rc_message → routes.send,
       * rc_joins.local → routes.join (rc_joins.remote: federation joins, the homeserver's own business).
       */
      rc_login: z
        .strictObject({ address: synapseLimit.optional(), account: synapseLimit.optional(), failed_attempts: synapseLimit.optional() })
        .optional(),
      rc_registration: synapseLimit.optional(),
      rc_message: synapseLimit.optional(),
      rc_joins: z.strictObject({ local: synapseLimit.optional(), remote: synapseLimit.optional() }).optional(),
      /** Users never limited on authenticated routes (appservice users, admins). */
      exempt_users: z.array(z.string().regex(/^@[^:]+:.+$/, { message: "must be a full user ID, e.g. @admin:example.org" })).default([]),
    })
    .prefault({}),
  migration: z
    .strictObject({
      /** Until then, requests with a homeserver token are checked with the homeserver and proxied (routes/homeserver-token.ts). */
      accept_homeserver_tokens_until: moment.optional(),
    })
    .prefault({}),
  http: z
    .strictObject({
      headers_timeout: duration.prefault(DEFAULT_HEADERS_TIMEOUT),
      request_timeout: duration.prefault(DEFAULT_REQUEST_TIMEOUT),
      keep_alive_timeout: duration.prefault(DEFAULT_KEEP_ALIVE_TIMEOUT),
      max_json_body: size.prefault(DEFAULT_MAX_JSON_BODY),
      max_body: size.prefault(DEFAULT_MAX_BODY),
      max_upload_body: size.prefault(DEFAULT_MAX_UPLOAD_BODY),
      shutdown_timeout: duration.prefault(DEFAULT_SHUTDOWN_TIMEOUT),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** Off unless set: the Prometheus listener, on its own address (never the public port). */
      listen: z
        .strictObject({ host: z.string().min(1).default(DEFAULT_METRICS_HOST), port: numeric(z.number().int().min(0).max(65535)) })
        .optional(),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default(DEFAULT_LOG_LEVEL),
      requests: flag().default(true),
      // Below the 4 KiB the writer sends at most at once (log.ts), which it requires.
      buffer: size.refine((bytes) => bytes < 4096, { message: "must be less than 4KiB" }).prefault(DEFAULT_LOG_BUFFER),
    })
    .prefault({}),
});

/** The file as parsed: durations in milliseconds, sizes in bytes, secrets not yet read. */
export type ParsedConfig = z.output<typeof configSchema>;

/** A rate-limited route class with the built-in classes merged in (durations in ms); either form of a limit. */
export interface RouteClass extends LimitFields {
  match: string[];
}

/** The running configuration: secrets read and keys derived, ready to use. */
export interface Config extends Omit<ParsedConfig, "jwt" | "store" | "rate_limits" | "upstream_identity" | "registration" | "oauth"> {
  /** `signing_key`: the ID-token key, read at load time; `undefined` while OAuth is off. */
  oauth: ParsedConfig["oauth"] & { signing_key: OAuthSigningKey | undefined };
  upstream_identity: Omit<ParsedConfig["upstream_identity"], "as_token_file">;
  registration: { enabled: boolean };
  rate_limits: Omit<ParsedConfig["rate_limits"], "routes"> & { routes: Record<string, RouteClass> };
  jwt: Omit<ParsedConfig["jwt"], "secret" | "secret_file" | "keys" | "signing_key"> & {
    /** The `jwt.secret` shorthand's bytes; `undefined` with `jwt.keys`. */
    secret: Buffer | undefined;
    keys: JwtKey[];
    signing_kid: string;
    audience: string;
  };
  store: Omit<ParsedConfig["store"], "encryption_key" | "encryption_key_file"> & { encryption_key: Buffer };
  /** Path of the file this came from, for messages. */
  source: string;
  /** What loads but is likely a mistake (`config/warnings.ts`): printed by `--check`, logged at start-up. */
  warnings: ConfigWarning[];
}
