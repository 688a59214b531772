/**
 * A cap on requests in flight from one address at once, so that a single client (or a flood of
 * parallel long-polls) cannot tie up the homeserver's workers.
 */

export interface InFlightLimiter {
  /** Counts a request of `key`; `false` (and nothing counted) when the key is at its cap. */
  enter(key: string): boolean;
  /** A request counted by `enter` has ended. */
  leave(key: string): void;
  size(key: string): number;
}

export function createInFlightLimiter(maxPerKey: number): InFlightLimiter {
  const counts = new Map<string, number>();
  return {
    enter(key) {
      const current = counts.get(key) ?? 0;
      if (current >= maxPerKey) return false;
      counts.set(key, current + 1);
      return true;
    },
    leave(key) {
      const left = (counts.get(key) ?? 1) - 1;
      if (left <= 0) counts.delete(key);
      else counts.set(key, left);
    },
    size: (key) => counts.get(key) ?? 0,
  };
}
