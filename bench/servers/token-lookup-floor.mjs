/**
 * The floor under any auth gateway built on this forwarder: the gateway's forwarder (as in
 * gateway-forwarder.mjs) behind the least token check there is — the bearer token looked up in a Map of
 * checked tokens, its session in node-cache, the expiry compared — with no router, JWT parsing, request
 * log, metric or rate limit. Not a configuration anyone could run (it checks nothing cryptographically); it
 * shows how much of issue 8's budget (≥ 0.95× bare http-proxy-3 with a cached token, ≤ 10% added CPU) is
 * left once the forwarding the contract requires is paid for. Opt-in: `BENCH_SCENARIOS=…,floor/`.
 *
 * IPC: {cmd: "seed"} answers the one token it accepts (a random string of a gateway JWT's length).
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import NodeCache from "node-cache";
import { newRequestInfo } from "../../dist/src/http/request-info.js";
import { createForwarder } from "../../dist/src/proxy/forward.js";
import { announce, answerCalls, childOptions, exitOnSignal } from "../lib/child.mjs";

const { upstream } = childOptions();
const quiet = { warn() {}, info() {}, error() {} };
const forwarder = createForwarder({
  upstreamUrl: upstream,
  timeoutMs: 60_000,
  maxLongPollMs: 60_000,
  maxSockets: 128,
  logger: quiet,
  onCredentialRejected() {},
});

const TOKEN = randomBytes(262).toString("base64url"); // 350 characters, like the gateway's access tokens
const checked = new Map([[TOKEN, { sub: "@bench:bench.local", sid: "floor-session", exp: Math.floor(Date.now() / 1000) + 86_400 }]]);
const sessions = new NodeCache({ stdTTL: 0, useClones: false });
sessions.set("floor-session", {
  id: "floor-session",
  userId: "@bench:bench.local",
  upstreamToken: "syt_YmVuY2g_upstream_token_0123456789",
});

const server = http.createServer((req, res) => {
  const authorization = req.headers.authorization;
  const claims = authorization?.startsWith("Bearer ") ? checked.get(authorization.slice(7)) : undefined;
  const session = claims && claims.exp > Date.now() / 1000 ? sessions.get(claims.sid) : undefined;
  if (!session) {
    res.writeHead(401, { "Content-Type": "application/json" });
    res.end('{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}');
    return;
  }
  const info = newRequestInfo(req);
  info.address = req.socket.remoteAddress ?? "";
  forwarder.forward(req, res, { url: req.url, upstreamToken: session.upstreamToken, sessionId: session.id, info, maxBodyBytes: 1 << 20 });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => announce(server.address().port));
answerCalls({ seed: async () => ({ tokens: [TOKEN] }) });
exitOnSignal(() => {
  forwarder.close();
  server.closeAllConnections();
});
