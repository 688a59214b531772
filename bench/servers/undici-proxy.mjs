/**
 * A lower bound for a Node proxy: undici's `Pool.stream` writes the upstream's answer straight into
 * the client's response. No token check, no logging; hop-by-hop headers are dropped both ways.
 */
import http from "node:http";
import { Pool } from "undici";
import { announce, childOptions, exitOnSignal } from "../lib/child.mjs";

const { upstream } = childOptions();
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "upgrade", "expect", "te", "trailer", "proxy-connection"];

function withoutHopByHop(headers) {
  const copy = { ...headers };
  for (const name of HOP_BY_HOP) delete copy[name];
  return copy;
}

const server = http.createServer((req, res) => {
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  pool.stream(
    { path: req.url, method: req.method, headers: withoutHopByHop(req.headers), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, withoutHopByHop(headers));
      return res;
    },
    (error) => {
      if (!error) return;
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { "Content-Type": "application/json" });
      res.end('{"errcode":"M_UNKNOWN","error":"upstream failed"}');
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => announce(server.address().port));
exitOnSignal(async () => {
  server.closeAllConnections();
  await pool.close();
});
