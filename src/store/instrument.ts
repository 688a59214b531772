/**
 * Store failures (disk full, read-only file, a dead Redis) become `503 M_UNKNOWN` for the client and a
 * counted, logged error for the operator — never a 500 with a stack, and never an open door.
 */
import { unavailable } from "../http/errors.js";
import type { Store } from "./store.js";

export function instrumentStore(store: Store, onError: (operation: string, error: unknown) => void): Store {
  const wrapped = {} as Record<string, unknown>;
  for (const operation of Object.keys(store) as (keyof Store)[]) {
    const method = store[operation] as (...args: unknown[]) => Promise<unknown>;
    wrapped[operation] = async (...args: unknown[]) => {
      try {
        return await method(...args);
      } catch (error) {
        onError(operation, error);
        throw unavailable("The session store is unavailable");
      }
    };
  }
  return wrapped as unknown as Store;
}
