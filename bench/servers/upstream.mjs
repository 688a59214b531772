/**
 * A minimal homeserver stand-in for the benchmark: fixed answers, as cheap as a Node HTTP server gets,
 * so that what is measured is the proxy in front of it.
 *
 *   GET  /_matrix/client/v3/account/whoami  ~70-byte JSON
 *   GET  /_matrix/client/v3/sync            ~2 KB JSON (one room, a few timeline events)
 *   POST /_matrix/client/v3/login           200 with a fresh access token for the user named in the body
 *   POST /_matrix/client/v3/logout          200 {}
 *
 * whoami and sync answer 401 M_MISSING_TOKEN without an `Authorization` header, so a proxy that drops
 * the credential shows up as non-2xx answers in the results.
 */
import http from "node:http";
import { announce, childOptions, exitOnSignal } from "../lib/child.mjs";

export const WHOAMI_BODY = Buffer.from(JSON.stringify({ user_id: "@bench:bench.local", device_id: "BENCHDEVICE", is_guest: false }));
export const SYNC_BODY = Buffer.from(JSON.stringify(syncResponse(2048)));
const MISSING_TOKEN = Buffer.from(JSON.stringify({ errcode: "M_MISSING_TOKEN", error: "Missing access token" }));
const EMPTY = Buffer.from("{}");

/** A plausible /sync answer of about `size` bytes. */
function syncResponse(size) {
  const events = [];
  const response = {
    next_batch: "s72595_4483_1934",
    rooms: { join: { "!bench:bench.local": { timeline: { events, limited: false, prev_batch: "t34-23535_0_0" } } } },
    presence: { events: [] },
    account_data: { events: [] },
  };
  for (let i = 0; JSON.stringify(response).length < size - 200; i++) {
    events.push({
      type: "m.room.message",
      event_id: `$event${i}:bench.local`,
      sender: "@bench:bench.local",
      origin_server_ts: 1_767_225_600_000 + i,
      content: { msgtype: "m.text", body: `benchmark message number ${i}` },
    });
  }
  return response;
}

function send(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": body.length });
  res.end(body);
}

let issued = 0;

function login(req, res) {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let user = "@bench:bench.local";
    try {
      user = JSON.parse(Buffer.concat(chunks).toString("utf8")).identifier?.user ?? user;
    } catch {
      // keep the default user
    }
    issued++;
    send(res, 200, Buffer.from(JSON.stringify({ user_id: user, access_token: `up_${issued}`, device_id: `DEV${issued}` })));
  });
}

const server = http.createServer((req, res) => {
  const path = req.url.split("?", 1)[0];
  if (req.method === "POST" && path === "/_matrix/client/v3/login") return login(req, res);
  if (req.method === "POST" && path === "/_matrix/client/v3/logout") return send(res, 200, EMPTY);
  if (req.method !== "GET") return send(res, 404, EMPTY);
  if (path !== "/_matrix/client/v3/account/whoami" && path !== "/_matrix/client/v3/sync") return send(res, 404, EMPTY);
  if (!req.headers.authorization) return send(res, 401, MISSING_TOKEN);
  send(res, 200, path === "/_matrix/client/v3/sync" ? SYNC_BODY : WHOAMI_BODY);
});

const { port = 0 } = childOptions();
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => announce(server.address().port));
exitOnSignal(() => new Promise((resolve) => server.close(resolve)));
