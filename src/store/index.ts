/** Builds the store the config names. */
import type { Config } from "../config/schema.js";
import { createCredentialCipher } from "./credential-cipher.js";
import { createMemoryStore } from "./memory.js";
import { createRedisStore } from "./redis.js";
import { createSqliteStore } from "./sqlite.js";
import type { Store } from "./store.js";

export interface StoreHooks {
  /** A SQLite file deleted or replaced while open (`file-identity.ts`): told once, with the reason. */
  onLost?: (reason: string) => void;
}

export function createStore(config: Config, hooks: StoreHooks = {}): Store {
  switch (config.store.type) {
    case "memory":
      return createMemoryStore();
    case "sqlite":
      return createSqliteStore(config.store.path, createCredentialCipher(config.store.encryption_key), { onLost: hooks.onLost });
    case "redis":
      return createRedisStore(
        { url: config.store.url, keyPrefix: config.store.redis.key_prefix, commandTimeoutMs: config.store.redis.command_timeout },
        createCredentialCipher(config.store.encryption_key),
      );
  }
}

export type { Store } from "./store.js";
