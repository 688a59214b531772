/**
 * The gateway under test, built from dist/ (run `npm run build` first), in front of the bench upstream.
 *
 * Options (JSON in argv[2]):
 *   upstream    the upstream's URL
 *   store       {type: "sqlite" | "memory", path?}
 *   cache       {size, ttl, verified} for store.cache_size / store.cache_ttl / jwt.verified_cache_size (defaults: the gateway's)
 *   jwtSecret   the JWT secret (default: a random one); also the store's key, so a gateway given the secret of
 *               bench/scenarios/session-service.mjs can open the sessions a "seed" child stored
 *   defaults    true: logging and rate limits as shipped (log level info, one line per request, limits on);
 *               false: `log: {level: warn, requests: false}` and `rate_limits: {enabled: false}`
 *
 * Logs go to /dev/null (the parent ignores this process's stdout): their formatting is still paid for.
 *
 * IPC calls:
 *   {cmd: "seed", count, distinctUsers}  starts `count` sessions in-process (as a login would, minus the
 *                                        upstream round trip) and answers their access tokens
 *   {cmd: "cacheStats"}                  session-cache hits and misses so far
 */
import { randomBytes } from "node:crypto";
import { parseConfig } from "../../dist/src/config/load.js";
import { createGateway } from "../../dist/src/gateway.js";
import { announce, answerCalls, childOptions, exitOnSignal, profilingCalls } from "../lib/child.mjs";

const SERVER_NAME = "bench.local";

const options = childOptions();
const store = options.store ?? { type: "memory" };
const storeYaml = [`type: ${store.type}`];
if (store.path) storeYaml.push(`path: ${JSON.stringify(store.path)}`);
if (options.cache?.size) storeYaml.push(`cache_size: ${options.cache.size}`);
if (options.cache?.ttl) storeYaml.push(`cache_ttl: ${options.cache.ttl}`);

const yaml = [
  `server_name: ${SERVER_NAME}`,
  "listen: {host: 127.0.0.1, port: 0}",
  "workers: 1",
  `upstream: {url: ${JSON.stringify(options.upstream)}}`,
  `jwt: {secret: ${JSON.stringify(options.jwtSecret ?? randomBytes(32).toString("hex"))}${options.cache?.verified === undefined ? "" : `, verified_cache_size: ${options.cache.verified}`}}`,
  // Long enough that no token expires during a lengthened run.
  "tokens: {access_ttl: 1h}",
  `store: {${storeYaml.join(", ")}}`,
  "http: {shutdown_timeout: 2s}",
  ...(options.defaults ? [] : ["log: {level: warn, requests: false}", "rate_limits: {enabled: false}"]),
].join("\n");

const gateway = createGateway(parseConfig(yaml, "bench-gateway.yaml"));
const address = await gateway.listen();

answerCalls({
  ...profilingCalls(),
  async seed({ count, distinctUsers }) {
    const tokens = [];
    for (let i = 0; i < count; i++) {
      const user = distinctUsers ? `user${i}` : "bench";
      const grant = await gateway.sessions.start({
        userId: `@${user}:${SERVER_NAME}`,
        deviceId: `SEED${i}`,
        upstreamToken: `up_seed_${i}`,
        refreshable: true,
      });
      tokens.push(grant.accessToken);
    }
    return { tokens };
  },
  async cacheStats() {
    const { values } = await gateway.metrics.sessionCache.get();
    const count = (result) => values.find((v) => v.labels.result === result)?.value ?? 0;
    return { hits: count("hit"), misses: count("miss") };
  },
});

announce(address.port);
exitOnSignal(() => gateway.close());
