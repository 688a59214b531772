/**
 * Store failures (disk full, read-only file, a dead Redis) become `503 M_UNKNOWN` for the client and a
 * counted, logged error for the operator — never a 500 with a stack, and never an open door.
 */
import { unavailable } from "../http/errors.js";
import type { Store } from "./store.js";

export function instrumentStore(store: Store, onError: (operation: string, error: unknown) => void): Store {
  const wrapped = {} as Record<string, unknown>;
  const refuse = (operation: string, error: unknown) => {
    onError(operation, error);
    return unavailable("The session store is unavailable");
  };
  for (const operation of Object.keys(store) as (keyof Store)[]) {
    if (operation === "getRequestSession") continue;
    const method = store[operation] as (...args: unknown[]) => Promise<unknown>;
    wrapped[operation] = async (...args: unknown[]) => {
      try {
        return await method(...args);
      } catch (error) {
        throw refuse(operation, error);
      }
    };
  }
  // The read of every cache miss: a synchronous answer stays synchronous (no promise, no rest array), a failure
  // is refused the same way, whether thrown at once or rejected.
  const getRequestSession = store.getRequestSession.bind(store);
  const refuseRead = (error: unknown) => {
    throw refuse("getRequestSession", error);
  };
  wrapped.getRequestSession = (id: string) => {
    let found: ReturnType<Store["getRequestSession"]>;
    try {
      found = getRequestSession(id);
    } catch (error) {
      throw refuse("getRequestSession", error);
    }
    return found instanceof Promise ? found.catch(refuseRead) : found;
  };
  return wrapped as unknown as Store;
}
