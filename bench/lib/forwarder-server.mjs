/**
 * A child process serving the gateway's forwarder (`createForwarder` from dist/) with nothing of the gateway
 * in front of it but `authorize`: the "forwarder alone" and "floor" rows of the benchmark.
 */
import http from "node:http";
import { newRequestInfo } from "../../dist/src/http/request-info.js";
import { createForwarder } from "../../dist/src/proxy/forward.js";
import { announce, childOptions, exitOnSignal } from "./child.mjs";

const REQUEST = Symbol("request");
const UNKNOWN_TOKEN = '{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}';

/**
 * Listens on a free loopback port and announces it. `authorize(req)` answers the request's upstream
 * credential `{upstreamToken, sessionId?}`, or `undefined` for a 401.
 */
export function serveForwarder(authorize) {
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
  // Its deadlines end when the response closes, as the gateway's router tells the forwarder (one shared listener):
  // without it every exchange stays tracked, and the deadline sweep walks an ever longer list on this CPU.
  function releaseOnClose() {
    forwarder.release(this[REQUEST]);
  }
  const server = http.createServer((req, res) => {
    const credential = authorize(req);
    if (!credential) {
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end(UNKNOWN_TOKEN);
      return;
    }
    const info = newRequestInfo(req);
    info.address = req.socket.remoteAddress ?? "";
    res[REQUEST] = req;
    res.on("close", releaseOnClose);
    forwarder.forward(req, res, { url: req.url, ...credential, info, maxBodyBytes: 1 << 20 });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1", () => announce(server.address().port));
  exitOnSignal(() => {
    forwarder.close();
    server.closeAllConnections();
  });
}
