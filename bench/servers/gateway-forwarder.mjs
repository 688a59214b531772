/**
 * The gateway's forwarder alone (`createForwarder` from dist/src/proxy/forward.js), with no router, token
 * check, rate limit, log or metric in front of it: every request is forwarded as an authenticated one,
 * with a fixed upstream token. Between the bare http-proxy-3 row and the gateway rows, it shows which
 * part of the gateway's cost is forwarding (header rules, relay, timeouts) and which is everything else.
 */
import { serveForwarder } from "../lib/forwarder-server.mjs";

const credential = { upstreamToken: "syt_YmVuY2g_upstream_token_0123456789" };
serveForwarder(() => credential);
