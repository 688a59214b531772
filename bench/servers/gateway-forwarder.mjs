/**
 * The gateway's forwarder alone (`createForwarder` from dist/src/proxy/forward.js), with no router, token
 * check, rate limit, log or metric in front of it: every request is forwarded as an authenticated one,
 * with a fixed upstream token. Between the bare http-proxy-3 row and the gateway rows, it shows which
 * part of the gateway's cost is forwarding (header rules, relay, timeouts) and which is everything else.
 */
import http from "node:http";
import { newRequestInfo } from "../../dist/src/http/request-info.js";
import { createForwarder } from "../../dist/src/proxy/forward.js";
import { announce, childOptions, exitOnSignal } from "../lib/child.mjs";

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

const server = http.createServer((req, res) => {
  const info = newRequestInfo(req);
  info.address = req.socket.remoteAddress ?? "";
  forwarder.forward(req, res, { url: req.url, upstreamToken: "syt_YmVuY2g_upstream_token_0123456789", info, maxBodyBytes: 1 << 20 });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => announce(server.address().port));
exitOnSignal(() => {
  forwarder.close();
  server.closeAllConnections();
});
