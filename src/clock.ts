/** Time and randomness are passed in, so tests move the clock by hand and pick the bytes. */
import crypto from "node:crypto";

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export type RandomBytes = (size: number) => Buffer;

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Cryptographically secure bytes, drawn from a pool filled 4 KiB at a time (as Node's own `randomUUID`
 * does): one `randomBytes` call costs ~3.5 µs here whatever its size, and a login needs five draws.
 * Every byte is handed out once, copied, so no caller shares memory with the pool or with another.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;
export const secureRandom: RandomBytes = (size) => {
  if (size > POOL_BYTES) return crypto.randomBytes(size);
  if (poolOffset + size > pool.length) {
    pool = crypto.randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + size));
  poolOffset += size;
  return bytes;
};

/** A clock that only moves when told to: for tests. */
export class ManualClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
