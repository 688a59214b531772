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
import NodeCache from "node-cache";
import { answerCalls } from "../lib/child.mjs";
import { serveForwarder } from "../lib/forwarder-server.mjs";

const TOKEN = randomBytes(262).toString("base64url"); // 350 characters, like the gateway's access tokens
const SESSION = { id: "floor-session", userId: "@bench:bench.local", upstreamToken: "syt_YmVuY2g_upstream_token_0123456789" };
const checked = new Map([[TOKEN, { sub: SESSION.userId, sid: SESSION.id, exp: Math.floor(Date.now() / 1000) + 86_400 }]]);
const sessions = new NodeCache({ stdTTL: 0, useClones: false });
sessions.set(SESSION.id, SESSION);

serveForwarder((req) => {
  const authorization = req.headers.authorization;
  const claims = authorization?.startsWith("Bearer ") ? checked.get(authorization.slice(7)) : undefined;
  const session = claims && claims.exp > Date.now() / 1000 ? sessions.get(claims.sid) : undefined;
  return session && { upstreamToken: session.upstreamToken, sessionId: session.id };
});
answerCalls({ seed: async () => ({ tokens: [TOKEN] }) });
