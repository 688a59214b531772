/**
 * The reference the gateway is built on: a bare http-proxy-3 proxy with the classic path and the same
 * agent settings as the gateway's forwarder (keep-alive, 128 sockets, `toProxy: true`), and nothing
 * else: no token check, no header rewriting, no logging.
 */
import http from "node:http";
import { createProxyServer } from "http-proxy-3";
import { announce, answerCalls, childOptions, exitOnSignal, profilingCalls } from "../lib/child.mjs";

const { upstream } = childOptions();
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const proxy = createProxyServer({ target: new URL(upstream), toProxy: true, xfwd: false, changeOrigin: false, agent });

const onError = (_error, _req, res) => {
  if (res.headersSent) return res.destroy();
  res.writeHead(502, { "Content-Type": "application/json" });
  res.end('{"errcode":"M_UNKNOWN","error":"upstream failed"}');
};

const server = http.createServer((req, res) => proxy.web(req, res, onError));
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => announce(server.address().port));
// `npm run bench:profile -- bare` profiles the measured window only.
answerCalls(profilingCalls());
exitOnSignal(() => {
  proxy.close();
  agent.destroy();
  server.closeAllConnections();
});
