/**
 * The few browser globals matrix-js-sdk 37's OIDC helpers read, for running them in Node: they keep
 * the authorization request in `window.sessionStorage` (through oidc-client-ts's WebStorageStateStore)
 * and rebuild the callback URL from `window.location.origin`. `crypto.subtle`, `TextEncoder` and
 * `fetch` are Node's own. Installed for one test and removed at its teardown.
 */
import type { Test } from "tap";

/** A Web Storage (HTML Living Standard, "The Storage interface") kept in a Map. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
  }
}

export interface BrowserGlobals {
  sessionStorage: Storage;
  localStorage: Storage;
}

/** Defines `window` (with storage and `location` at `origin`) until the test ends. */
export function installBrowserGlobals(t: Test, origin: string): BrowserGlobals {
  const scope = globalThis as { window?: unknown };
  const before = scope.window;
  const url = new URL(origin);
  const globals = { sessionStorage: new MemoryStorage(), localStorage: new MemoryStorage() };
  scope.window = { ...globals, location: { origin: url.origin, href: url.href } };
  t.teardown(() => {
    scope.window = before;
  });
  return globals;
}
