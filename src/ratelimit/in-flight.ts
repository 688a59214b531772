/**
 * A cap on requests in flight from one address at once, so that a single client (or a flood of
 * parallel long-polls) cannot tie up the homeserver's workers.
 */
import type { ServerResponse } from "node:http";

export interface InFlightLimiter {
  /** Counts a request until its response closes; `false` when the address is at its cap. */
  enter(key: string, res: ServerResponse): boolean;
  size(key: string): number;
}

export function createInFlightLimiter(maxPerKey: number): InFlightLimiter {
  const counts = new Map<string, number>();
  return {
    enter(key, res) {
      const current = counts.get(key) ?? 0;
      if (current >= maxPerKey) return false;
      counts.set(key, current + 1);
      res.once("close", () => {
        const left = (counts.get(key) ?? 1) - 1;
        if (left <= 0) counts.delete(key);
        else counts.set(key, left);
      });
      return true;
    },
    size: (key) => counts.get(key) ?? 0,
  };
}
