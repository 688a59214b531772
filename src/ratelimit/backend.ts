/**
 * Where the rate-limit counters of this process live, from the configuration: Redis when sessions are
 * in Redis (every instance shares them), the primary process when this is one of several workers (leased to
 * the workers in batches, leased.ts), else
 * this process's memory.
 */
import cluster from "node:cluster";
import { Redis } from "ioredis";
import { workerCount } from "../commands/workers.js";
import type { Config } from "../config/schema.js";
import { leasedClusterLimiters } from "./leased.js";
import { type LimiterFactory, memoryLimiters, redisLimiters } from "./limiter.js";

export interface LimiterBackend {
  factory: LimiterFactory;
  close(): void;
}

export function createLimiterBackend(config: Config): LimiterBackend {
  if (config.store.type === "redis") {
    const client = new Redis(config.store.url, {
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      commandTimeout: config.store.redis.command_timeout,
      lazyConnect: false,
    });
    client.once("ready", () => {
      client.options.enableOfflineQueue = false;
    });
    client.on("error", () => {
      // While Redis is unreachable the insurance limiters answer; ioredis reconnects by itself.
    });
    return { factory: redisLimiters(client, config.store.redis.key_prefix), close: () => client.disconnect() };
  }
  if (cluster.isWorker) return { factory: leasedClusterLimiters(workerCount(config)), close() {} };
  return { factory: memoryLimiters, close() {} };
}
