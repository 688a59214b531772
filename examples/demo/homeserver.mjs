/**
 * A tiny stand-in for a Matrix homeserver, for the demo only: password login, whoami, logout and
 * /versions, on 127.0.0.1 (port 0). It remembers the credential every request carried, so the demo can
 * show that the homeserver only ever sees its own token — never the gateway's JWT.
 */
import crypto from "node:crypto";
import http from "node:http";

/**
 * @param {{serverName?: string, users?: Record<string, string>, port?: number}} options  users: localpart → password
 */
export async function startDemoHomeserver({ serverName = "example.org", users = { alice: "wonderland" }, port = 0 } = {}) {
  /** @type {Map<string, {userId: string, deviceId: string}>} */
  const tokens = new Map();
  /** @type {{method: string, path: string, authorization: string | undefined}[]} */
  const seen = [];

  const json = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  };

  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://demo").pathname;
      const authorization = req.headers.authorization;
      seen.push({ method: req.method ?? "", path, authorization });

      if (req.method === "GET" && path === "/_matrix/client/versions") return json(res, 200, { versions: ["v1.11"] });
      if (req.method === "POST" && /^\/_matrix\/client\/(r0|v3)\/login$/.test(path)) {
        let request;
        try {
          request = JSON.parse(body);
        } catch {
          return json(res, 400, { errcode: "M_NOT_JSON", error: "Content not JSON." });
        }
        const user = String(request.identifier?.user ?? request.user ?? "");
        const localpart = user.startsWith("@") ? user.slice(1, user.indexOf(":")) : user;
        if (users[localpart] === undefined || users[localpart] !== request.password) {
          return json(res, 403, { errcode: "M_FORBIDDEN", error: "Invalid username or password" });
        }
        const accessToken = `syt_${crypto.randomBytes(18).toString("base64url")}`;
        const deviceId = request.device_id ?? crypto.randomBytes(5).toString("hex").toUpperCase();
        const userId = `@${localpart}:${serverName}`;
        tokens.set(accessToken, { userId, deviceId });
        return json(res, 200, { user_id: userId, access_token: accessToken, device_id: deviceId, home_server: serverName });
      }

      const token = authorization?.startsWith("Bearer ") ? authorization.slice(7) : undefined;
      const device = token === undefined ? undefined : tokens.get(token);
      if (!device) return json(res, 401, { errcode: "M_UNKNOWN_TOKEN", error: "Unknown access token", soft_logout: false });
      if (req.method === "GET" && /^\/_matrix\/client\/(r0|v3)\/account\/whoami$/.test(path)) {
        return json(res, 200, { user_id: device.userId, device_id: device.deviceId });
      }
      if (req.method === "POST" && /^\/_matrix\/client\/(r0|v3)\/logout$/.test(path)) {
        tokens.delete(token);
        return json(res, 200, {});
      }
      return json(res, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    seen,
    /** How many sessions the homeserver still has. */
    sessionCount: () => tokens.size,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}
