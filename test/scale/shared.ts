/**
 * What the scale tests share besides the CLI and HTTP helpers of test/helpers/ (processes.ts, http.ts):
 * their constants, a key prefix of one's own in the shared Redis, and reading keys there.
 */
import { Redis } from "ioredis";
import type { Test } from "tap";
import { call } from "../helpers/http.js";
import { sleep } from "../helpers/processes.js";

export const SECRET = "scale-test-secret-that-is-at-least-32-bytes!";
export const ALICE = "@alice:example.org";
export const WHOAMI = "/_matrix/client/v3/account/whoami";

/** A key prefix of this test alone in the shared Redis; its keys are deleted at teardown. */
export function ownKeyPrefix(t: Test, redisUrl: string, label: string): string {
  const prefix = `scale-test:${label}:${process.pid}:${Date.now().toString(36)}:`;
  t.teardown(async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys = await keysMatching(redis, `${prefix}*`);
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });
  return prefix;
}

/**
 * Until a gateway's rate-limit connection to Redis is up (a few ms after it listens), it counts in memory
 * (the insurance limiter). Resolves true once a public request on `port` left its counter under `prefix`
 * in Redis (that counter is then deleted), false if that never happens within ~2 s.
 */
export async function limitsCountedInRedis(port: number, redis: Redis, prefix: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await call(port, "GET", "/_matrix/client/versions")).status !== 200) return false;
    const keys = await keysMatching(redis, `${prefix}rl:public_address*`);
    if (keys.length) {
      await redis.del(...keys);
      return true;
    }
    await sleep(20);
  }
  return false;
}

/** Every key matching `pattern` (a whole SCAN: the shared Redis may hold other tests' keys too). */
export async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== "0");
  return found;
}
