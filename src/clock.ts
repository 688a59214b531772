/** Time and randomness are passed in, so tests move the clock by hand and pick the bytes. */
import crypto from "node:crypto";

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export type RandomBytes = (size: number) => Buffer;

export const systemClock: Clock = { now: () => Date.now() };
export const secureRandom: RandomBytes = (size) => crypto.randomBytes(size);

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
