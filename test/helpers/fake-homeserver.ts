/**
 * A small homeserver for tests: real HTTP on 127.0.0.1, port 0. It checks its own access tokens
 * exactly as a homeserver would and records every request it receives, so tests can prove what
 * reached it (the upstream credential) and what never did (the gateway's JWT).
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
  /** Invalidates an upstream token, as deleting the device would. */
  revokeToken(token: string): void;
  /** Delays every answer by `ms` (0 = answer at once). */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startFakeHomeserver(serverName = "example.org"): Promise<FakeHomeserver> {
  const users = new Map<string, string>();
  const tokens = new Map<string, Device>();
  const received: ReceivedRequest[] = [];
  const logins: { user: string; ok: boolean }[] = [];
  const logouts: { path: string; token: string | undefined }[] = [];
  let delayMs = 0;

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const tokenOf = (req: http.IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (header?.startsWith("Bearer ")) return header.slice(7);
    return new URL(req.url ?? "/", "http://x").searchParams.get("access_token") ?? undefined;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const token = tokenOf(req);
      const device = token === undefined ? undefined : tokens.get(token);
      received.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        userId: device?.userId,
      });
      const answer = () => route(req, res, body, token, device);
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });

  const route = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: string,
    token: string | undefined,
    device: Device | undefined,
  ) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (method === "GET" && path === "/_matrix/client/versions") return json(res, 200, { versions: ["r0.6.1", "v1.1", "v1.11"] });
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/publicRooms$/.test(path))
      return json(res, 200, { chunk: [], total_room_count_estimate: 0 });
    if (method === "GET" && /^\/_matrix\/client\/(r0|v3)\/profile\//.test(path)) return json(res, 200, { displayname: "Someone" });
    if (method === "GET" && path.startsWith("/.well-known/matrix/"))
      return json(res, 200, { "m.homeserver": { base_url: "https://example.org" } });
    if (path.startsWith("/_matrix/federation/"))
      return json(res, 200, { federation: true, authorization: req.headers.authorization ?? null });
    if (method === "POST" && /^\/_matrix\/client\/(r0|v3)\/login$/.test(path)) return login(res, body);

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
    if (method === "DELETE" && /^\/_matrix\/client\/(r0|v3)\/devices\//.test(path)) {
      // User-interactive auth: a 401 that is not a token rejection.
      return json(res, 401, { flows: [{ stages: ["m.login.password"] }], params: {}, session: "uia-session" });
    }
    if (method === "GET" && path === "/_matrix/client/v3/set-cookies") {
      return json(res, 200, {}, { "Set-Cookie": ["a=1; Path=/", "b=2; Path=/"] });
    }
    // Anything else: tell the caller what arrived.
    return json(res, 200, { echo: { method, url: req.url, user_id: device.userId, device_id: device.deviceId } });
  };

  const login = (res: http.ServerResponse, body: string) => {
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return json(res, 400, { errcode: "M_NOT_JSON", error: "Content not JSON." });
    }
    const identifier = request.identifier as { user?: string } | undefined;
    const user = String(identifier?.user ?? request.user ?? "");
    const localpart = user.startsWith("@") ? user.slice(1, user.indexOf(":")) : user;
    const ok = users.has(localpart.toLowerCase()) && users.get(localpart.toLowerCase()) === request.password;
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
    addUser: (localpart, password) => users.set(localpart.toLowerCase(), password),
    revokeToken: (token) => tokens.delete(token),
    setDelay: (ms) => {
      delayMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
