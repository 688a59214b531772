/**
 * A small homeserver for tests: real HTTP on 127.0.0.1, port 0. It checks its own access tokens
 * exactly as a homeserver would and records every request it receives, so tests can prove what
 * reached it (the upstream credential) and what never did (the gateway's JWT).
 *
 * Opt-in extras (existing callers see the old behaviour unless they call these):
 * - `addAppservice()`: an application service whose `as_token` asserts users with `?user_id=`
 *   (spec, Application Service API, "Identity assertion"), registers them with
 *   `m.login.application_service` and logs them in with it (spec, Client-Server API, "Appservice Login");
 * - `enableRegistration()`: `POST /register` with user-interactive auth (`m.login.dummy`) and guests;
 * - `setResponseHeaders()`: extra header lines on every answer (an upstream `X-Request-Id`, a `Connection`
 *   naming a hop-by-hop field), to test what the gateway relays of the homeserver's response headers;
 * - `serveAuthOnAnySpelling()`: a careless homeserver that answers *any* spelling of login, register, refresh,
 *   tokenrefresh and logout that the gateway forwards (any version segment, case, escape, trailing slash,
 *   sub-path) with a fresh homeserver credential, and records it in `authHits`: what the gateway must never let
 *   through. The gateway's own calls (login, logout, registration: no `X-Request-Id`) are answered as usual.
 * - `setLoginFlows()`: what `GET …/login` lists (default: Synapse's stock password and appservice flows), or a
 *   500; `issueLoginToken()`: a one-time `m.login.token` (the end of an SSO redirect, or `login/get_token`).
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  /** The user the request was authenticated as, if it carried a valid token. */
  userId: string | undefined;
}

interface Device {
  userId: string;
  deviceId: string;
}

/** Who a request acts as: a device's token, or an application service asserting a user. */
interface Caller {
  userId: string;
  deviceId: string | undefined;
}

/** An application service the homeserver knows (its registration file, reduced to what the tests need). */
export interface FakeAppservice {
  asToken: string;
  /** The `namespaces.users` regex; matched against the whole user ID. */
  userRegex: RegExp | string;
  /** The appservice's own user (`sender_localpart`), acted as when no `user_id` is given; default `appservice`. */
  senderLocalpart?: string;
}

/** A `POST …/register` the homeserver received, with its parsed body (undefined when not JSON). */
export interface RegisterRequest {
  url: string;
  body: Record<string, unknown> | undefined;
  /** Whether it carried a known `as_token`. */
  appservice: boolean;
}

export interface FakeHomeserver {
  url: string;
  port: number;
  received: ReceivedRequest[];
  /** Valid upstream access tokens → their device. */
  tokens: Map<string, Device>;
  /** Every login attempt the homeserver saw (successful or not). */
  logins: { user: string; ok: boolean }[];
  /** Paths of logout calls (`/logout`, `/logout/all`) with the token they carried. */
  logouts: { path: string; token: string | undefined }[];
  addUser(localpart: string, password: string): void;
  /** Every password of every user: secrets that must never appear in a gateway log. */
  passwords(): string[];
  /** Whether the user exists (added, registered, or registered by an appservice). */
  hasUser(localpart: string): boolean;
  /** Proxied requests that reached an auth handler of the careless mode (`serveAuthOnAnySpelling`). */
  authHits: { method: string; url: string }[];
  /** Answers any spelling of an auth endpoint the gateway forwards with a homeserver credential (see above). */
  serveAuthOnAnySpelling(): void;
  /** Answers `path` (exact, any method) with this JSON body, to test what the gateway relays; undefined removes it. */
  setCannedAnswer(path: string, answer: { status: number; body: string; headers?: Record<string, string> } | undefined): void;
  /** Every `POST /_matrix/client/{r0,v3}/register` received, whether or not registration is on. */
  registerRequests: RegisterRequest[];
  /** Accepts `asToken` as an application service's token from now on. */
  addAppservice(appservice: FakeAppservice): void;
  /** Turns on open registration (UIA with `m.login.dummy`, and `?kind=guest`); off by default. */
  enableRegistration(): void;
  /** Invalidates an upstream token, as deleting the device would (an `as_token`: the appservice is forgotten). */
  revokeToken(token: string): void;
  /** Delays every answer by `ms` (0 = answer at once). */
  setDelay(ms: number): void;
  /** Answers' headers go out at once, the rest of their JSON bodies `ms` later (0: all at once). */
  setBodyDelay(ms: number): void;
  /** What `GET …/login` answers from now on: these flows, or `"error"` for a 500. */
  setLoginFlows(flows: Record<string, unknown>[] | "error"): void;
  /** A one-time login token for `localpart`, as the end of an SSO login issues it. */
  issueLoginToken(localpart: string): string;
  /** Adds these header fields to every answer from now on (an array: one line per value); `{}` = none again. */
  setResponseHeaders(headers: Record<string, string | string[]>): void;
  close(): Promise<void>;
}

export async function startFakeHomeserver(serverName = "example.org"): Promise<FakeHomeserver> {
  /** localpart → password; `undefined` for users registered without one (appservice users, guests). */
  const users = new Map<string, string | undefined>();
  const tokens = new Map<string, Device>();
  const received: ReceivedRequest[] = [];
  const logins: { user: string; ok: boolean }[] = [];
  const logouts: { path: string; token: string | undefined }[] = [];
  const registerRequests: RegisterRequest[] = [];
  const appservices = new Map<string, { userRegex: RegExp; sender: string }>();
  /** Open UIA sessions of registrations in progress. */
  const uiaSessions = new Set<string>();
  let registrationEnabled = false;
  let guestCount = 0;
  let delayMs = 0;
  let bodyDelayMs = 0;
  let extraResponseHeaders: Record<string, string | string[]> = {};
  let careless = false;
  const authHits: { method: string; url: string }[] = [];
  const canned = new Map<string, { status: number; body: string; headers?: Record<string, string> }>();
  let loginFlows: Record<string, unknown>[] | "error" = [{ type: "m.login.password" }, { type: "m.login.application_service" }];
  /** One-time `m.login.token`s → their user ID. */
  const loginTokens = new Map<string, string>();

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(text),
      ...extraResponseHeaders,
      ...headers,
    });
    if (bodyDelayMs === 0) return void res.end(text);
    res.write(text.slice(0, 1));
    setTimeout(() => res.end(text.slice(1)), bodyDelayMs);
  };

  const tokenOf = (req: http.IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (header?.startsWith("Bearer ")) return header.slice(7);
    return new URL(req.url ?? "/", "http://x").searchParams.get("access_token") ?? undefined;
  };

  const localpartOf = (userId: string): string | undefined =>
    userId.startsWith("@") && userId.endsWith(`:${serverName}`) ? userId.slice(1, -serverName.length - 1).toLowerCase() : undefined;

  /** A fresh device with its access token for `userId`. */
  const newDevice = (userId: string, deviceId?: string): { accessToken: string; deviceId: string } => {
    const device = deviceId ?? crypto.randomBytes(5).toString("hex").toUpperCase();
    const accessToken = `syt_${crypto.randomBytes(18).toString("base64url")}`;
    tokens.set(accessToken, { userId, deviceId: device });
    return { accessToken, deviceId: device };
  };

  /**
   * Who a token acts as. An appservice token asserts `user_id` from the query (the first one, as
   * Synapse reads it), or its sender when absent; the user must be in its namespace and registered.
   */
  const identify = (
    token: string | undefined,
    url: URL,
  ): { caller?: Caller; refusal?: { status: number; body: Record<string, unknown> } } => {
    if (token === undefined) return {};
    const appservice = appservices.get(token);
    if (!appservice) {
      const device = tokens.get(token);
      return device ? { caller: { ...device } } : {};
    }
    const asserted = url.searchParams.get("user_id") ?? appservice.sender;
    if (asserted !== appservice.sender && !appservice.userRegex.test(asserted)) {
      return { refusal: { status: 403, body: { errcode: "M_FORBIDDEN", error: "Application service cannot masquerade as this user" } } };
    }
    const localpart = localpartOf(asserted);
    if (asserted !== appservice.sender && (localpart === undefined || !users.has(localpart))) {
      return { refusal: { status: 403, body: { errcode: "M_FORBIDDEN", error: "Application service has not registered this user" } } };
    }
    return { caller: { userId: asserted, deviceId: url.searchParams.get("device_id") ?? undefined } };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const token = tokenOf(req);
      const { caller, refusal } = identify(token, new URL(req.url ?? "/", "http://x"));
      received.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        userId: caller?.userId,
      });
      const answer = () => route(req, res, body, token, caller, refusal);
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });

  const route = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: string,
    token: string | undefined,
    device: Caller | undefined,
    refusal?: { status: number; body: Record<string, unknown> },
  ) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const method = req.method ?? "GET";

    const cannedAnswer = canned.get(path);
    if (cannedAnswer) {
      res.writeHead(cannedAnswer.status, { "Content-Type": "application/json", ...cannedAnswer.headers });
      return void res.end(cannedAnswer.body);
    }
    if (careless && req.headers["x-request-id"] !== undefined && CARELESS_AUTH.test(safeDecode(path))) {
      authHits.push({ method, url: req.url ?? "" });
      const device = newDevice(`@alice:${serverName}`);
      return json(res, 200, {
        user_id: `@alice:${serverName}`,
        access_token: device.accessToken,
        refresh_token: `syr_${crypto.randomBytes(12).toString("base64url")}`,
        device_id: device.deviceId,
        home_server: serverName,
      });
    }

    if (method === "GET" && path === "/_matrix/client/versions") return json(res, 200, { versions: ["r0.6.1", "v1.1", "v1.11"] });
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/publicRooms$/.test(path))
      return json(res, 200, { chunk: [], total_room_count_estimate: 0 });
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/profile\//.test(path)) return json(res, 200, { displayname: "Someone" });
    if (method === "GET" && path.startsWith("/.well-known/matrix/"))
      return json(res, 200, { "m.homeserver": { base_url: "https://example.org" } });
    if (path.startsWith("/_matrix/federation/"))
      return json(res, 200, { federation: true, authorization: req.headers.authorization ?? null });
    if (method === "POST" && /^\/_matrix\/client\/(r0|v3)\/login$/.test(path)) return login(res, body, token);
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/login$/.test(path)) {
      if (loginFlows === "error") return json(res, 500, { errcode: "M_UNKNOWN", error: "Internal server error" });
      return json(res, 200, { flows: loginFlows });
    }
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/register\/available$/.test(path)) {
      const wanted = (url.searchParams.get("username") ?? "").toLowerCase();
      if (users.has(wanted)) return json(res, 400, { errcode: "M_USER_IN_USE", error: "User ID already taken." });
      return json(res, 200, { available: true });
    }
    if (method === "POST" && /^\/_matrix\/client\/(r0|v3)\/register$/.test(path)) {
      const isAppservice = token !== undefined && appservices.has(token);
      registerRequests.push({ url: req.url ?? "", body: parseObject(body), appservice: isAppservice });
      if (isAppservice) return registerAppserviceUser(res, body, appservices.get(token as string) as { userRegex: RegExp });
      // Registration off: the old behaviour (a request without a token is refused below).
      if (registrationEnabled && token === undefined) return register(res, url, body);
    }

    if (refusal) return json(res, refusal.status, refusal.body);
    if (token === undefined) return json(res, 401, { errcode: "M_MISSING_TOKEN", error: "Missing access token" });
    if (!device) return json(res, 401, { errcode: "M_UNKNOWN_TOKEN", error: "Unknown access token", soft_logout: false });

    if (method === "POST" && /^\/_matrix\/client\/(r0|v3)\/logout$/.test(path)) {
      logouts.push({ path: "/logout", token });
      tokens.delete(token);
      return json(res, 200, {});
    }
    if (method === "POST" && /^\/_matrix\/client\/(r0|v3)\/logout\/all$/.test(path)) {
      logouts.push({ path: "/logout/all", token });
      for (const [t, d] of tokens) if (d.userId === device.userId) tokens.delete(t);
      return json(res, 200, {});
    }
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/account\/whoami$/.test(path)) {
      return json(res, 200, { user_id: device.userId, device_id: device.deviceId });
    }
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/sync$/.test(path)) {
      const wait = Math.min(Number(url.searchParams.get("timeout") ?? 0) || 0, 60_000);
      const since = url.searchParams.get("since");
      const reply = () =>
        json(res, 200, {
          next_batch: `s${Date.now()}`,
          rooms: { join: {}, invite: {}, leave: {} },
          presence: { events: [] },
          account_data: { events: [] },
        });
      // An initial sync answers at once; an incremental one waits out its timeout (nothing happens here).
      if (since && wait > 0) {
        const timer = setTimeout(reply, wait);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      return reply();
    }
    if (method === "DELETE" && /^\/_matrix\/client\/(r0|v3)\/devices\//.test(path) && !appservices.has(token)) {
      // User-interactive auth: a 401 that is not a token rejection. An appservice skips it (as Synapse): echoed below.
      return json(res, 401, { flows: [{ stages: ["m.login.password"] }], params: {}, session: "uia-session" });
    }
    if (method === "GET" && path === "/_matrix/client/v3/set-cookies") {
      return json(res, 200, {}, { "Set-Cookie": ["a=1; Path=/", "b=2; Path=/"] });
    }
    // Anything else: tell the caller what arrived.
    // An appservice request without `device_id` has no device: null.
    return json(res, 200, { echo: { method, url: req.url, user_id: device.userId, device_id: device.deviceId ?? null } });
  };

  /** `m.login.application_service`: the appservice registers a user of its namespace (spec, "Server admin style permissions"). */
  const registerAppserviceUser = (res: http.ServerResponse, body: string, appservice: { userRegex: RegExp }) => {
    const request = parseObject(body);
    if (!request) return json(res, 400, { errcode: "M_NOT_JSON", error: "Content not JSON." });
    if (request.type !== "m.login.application_service") {
      return json(res, 400, { errcode: "M_UNKNOWN", error: "Invalid login submission" });
    }
    if (typeof request.username !== "string") return json(res, 400, { errcode: "M_MISSING_PARAM", error: "Missing username" });
    const localpart = request.username.toLowerCase();
    const userId = `@${localpart}:${serverName}`;
    if (!appservice.userRegex.test(userId)) {
      return json(res, 400, { errcode: "M_EXCLUSIVE", error: "Invalid user localpart for this application service." });
    }
    if (users.has(localpart)) return json(res, 400, { errcode: "M_USER_IN_USE", error: "User ID already taken." });
    users.set(localpart, undefined);
    if (request.inhibit_login === true) return json(res, 200, { user_id: userId });
    const device = newDevice(userId);
    return json(res, 200, { user_id: userId, access_token: device.accessToken, device_id: device.deviceId, home_server: serverName });
  };

  /**
   * Appservice Login (spec, Client-Server API): the `as_token` logs a user of its namespace in, and a device
   * is created as for a password login. Refusals as Synapse answers them; a user the homeserver does not have
   * is refused too (register first).
   */
  const appserviceLogin = (res: http.ServerResponse, request: Record<string, unknown>, token: string | undefined) => {
    const appservice = token === undefined ? undefined : appservices.get(token);
    if (!appservice) return json(res, 401, { errcode: "M_UNKNOWN_TOKEN", error: "Invalid access_token" });
    const identifier = request.identifier as { type?: unknown; user?: unknown } | undefined;
    if (identifier?.type !== "m.id.user" || typeof identifier.user !== "string") {
      return json(res, 400, { errcode: "M_INVALID_PARAM", error: "Invalid identifier in login submission" });
    }
    const userId = identifier.user.startsWith("@") ? identifier.user : `@${identifier.user}:${serverName}`;
    const localpart = localpartOf(userId);
    const refusal = !appservice.userRegex.test(userId)
      ? "Invalid access_token"
      : localpart === undefined || !users.has(localpart)
        ? "User does not exist"
        : undefined;
    logins.push({ user: userId, ok: refusal === undefined });
    if (refusal) return json(res, 403, { errcode: "M_FORBIDDEN", error: refusal });
    const device = newDevice(userId, typeof request.device_id === "string" ? request.device_id : undefined);
    return json(res, 200, { user_id: userId, access_token: device.accessToken, device_id: device.deviceId, home_server: serverName });
  };

  /** Open registration: a taken username fails first (as Synapse checks it before UIA), then one `m.login.dummy` stage. */
  const register = (res: http.ServerResponse, url: URL, body: string) => {
    const request = parseObject(body);
    if (!request) return json(res, 400, { errcode: "M_NOT_JSON", error: "Content not JSON." });
    const answer = (localpart: string) => {
      const userId = `@${localpart}:${serverName}`;
      if (request.inhibit_login === true) return json(res, 200, { user_id: userId });
      const device = newDevice(userId, typeof request.device_id === "string" ? request.device_id : undefined);
      return json(res, 200, { user_id: userId, access_token: device.accessToken, device_id: device.deviceId, home_server: serverName });
    };
    if (url.searchParams.get("kind") === "guest") {
      guestCount += 1;
      const localpart = String(guestCount);
      users.set(localpart, undefined);
      return answer(localpart);
    }
    const wanted = typeof request.username === "string" ? request.username.toLowerCase() : undefined;
    if (wanted !== undefined && users.has(wanted)) return json(res, 400, { errcode: "M_USER_IN_USE", error: "User ID already taken." });
    const auth = request.auth as { type?: unknown; session?: unknown } | undefined;
    if (auth?.type !== "m.login.dummy" || typeof auth.session !== "string" || !uiaSessions.has(auth.session)) {
      const session = crypto.randomBytes(12).toString("base64url");
      uiaSessions.add(session);
      return json(res, 401, { flows: [{ stages: ["m.login.dummy"] }], params: {}, session });
    }
    uiaSessions.delete(auth.session);
    const localpart = wanted ?? `user${crypto.randomBytes(4).toString("hex")}`;
    users.set(localpart, typeof request.password === "string" ? request.password : undefined);
    return answer(localpart);
  };

  /** `m.login.token`: Synapse's answers (a missing field is its KeyError; a token works once). */
  const tokenLogin = (res: http.ServerResponse, request: Record<string, unknown>) => {
    if (!("token" in request)) return json(res, 400, { errcode: "M_UNKNOWN", error: "Missing JSON keys." });
    const userId = typeof request.token === "string" ? loginTokens.get(request.token) : undefined;
    logins.push({ user: userId ?? "", ok: userId !== undefined });
    if (userId === undefined) return json(res, 403, { errcode: "M_FORBIDDEN", error: "Invalid login token" });
    loginTokens.delete(request.token as string);
    const device = newDevice(userId, typeof request.device_id === "string" ? request.device_id : undefined);
    return json(res, 200, { user_id: userId, access_token: device.accessToken, device_id: device.deviceId, home_server: serverName });
  };

  const login = (res: http.ServerResponse, body: string, token: string | undefined) => {
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return json(res, 400, { errcode: "M_NOT_JSON", error: "Content not JSON." });
    }
    if (request.type === "m.login.application_service") return appserviceLogin(res, request, token);
    if (request.type === "m.login.token") return tokenLogin(res, request);
    const identifier = request.identifier as { user?: string } | undefined;
    const user = String(identifier?.user ?? request.user ?? "");
    const localpart = user.startsWith("@") ? user.slice(1, user.indexOf(":")) : user;
    const stored = users.get(localpart.toLowerCase());
    const ok = stored !== undefined && stored === request.password;
    logins.push({ user, ok });
    if (!ok) return json(res, 403, { errcode: "M_FORBIDDEN", error: "Invalid username or password" });
    const deviceId = typeof request.device_id === "string" ? request.device_id : crypto.randomBytes(5).toString("hex").toUpperCase();
    const accessToken = `syt_${crypto.randomBytes(18).toString("base64url")}`;
    const userId = `@${localpart.toLowerCase()}:${serverName}`;
    tokens.set(accessToken, { userId, deviceId });
    return json(res, 200, { user_id: userId, access_token: accessToken, device_id: deviceId, home_server: serverName });
  };

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    tokens,
    logins,
    logouts,
    authHits,
    serveAuthOnAnySpelling: () => {
      careless = true;
    },
    setCannedAnswer: (path, answer) => {
      if (answer) canned.set(path, answer);
      else canned.delete(path);
    },
    addUser: (localpart, password) => users.set(localpart.toLowerCase(), password),
    passwords: () => [...users.values()].filter((p): p is string => typeof p === "string"),
    hasUser: (localpart) => users.has(localpart.toLowerCase()),
    registerRequests,
    addAppservice: ({ asToken, userRegex, senderLocalpart = "appservice" }) => {
      const source = typeof userRegex === "string" ? userRegex : userRegex.source;
      appservices.set(asToken, { userRegex: new RegExp(`^(?:${source})$`), sender: `@${senderLocalpart}:${serverName}` });
    },
    enableRegistration: () => {
      registrationEnabled = true;
    },
    revokeToken: (token) => {
      tokens.delete(token);
      appservices.delete(token);
    },
    setDelay: (ms) => {
      delayMs = ms;
    },
    setBodyDelay: (ms) => {
      bodyDelayMs = ms;
    },
    setLoginFlows: (flows) => {
      loginFlows = flows;
    },
    issueLoginToken: (localpart) => {
      const token = `syl_${crypto.randomBytes(12).toString("base64url")}`;
      loginTokens.set(token, `@${localpart.toLowerCase()}:${serverName}`);
      return token;
    },
    setResponseHeaders: (headers) => {
      extraResponseHeaders = headers;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Any version segment(s), any case, escapes decoded, any sub-path: what a careless homeserver would route to its auth handlers. */
const CARELESS_AUTH = /^\/_matrix\/client\/(?:[^/]*\/){0,3}(?:login|register|refresh|tokenrefresh[^/]*|logout)(?:\/.*)?$/i;

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** The JSON object in `body`, or undefined. */
function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
