/**
 * Fresh request ids (`X-Request-Id`): a random prefix drawn once per process and a counter. Unique across
 * the processes of a deployment (72 random bits each) and across restarts, without a random draw per
 * request (`crypto.randomUUID()` costs about a microsecond on the hot path).
 */
import crypto from "node:crypto";

/** What the gateway generates: 12 base64url characters, a dash, the counter in base 36. */
export const GENERATED_REQUEST_ID = /^[A-Za-z0-9_-]{12}-[0-9a-z]+$/;

const PREFIX = `${crypto.randomBytes(9).toString("base64url")}-`;
let counter = 0;

export function newRequestId(): string {
  counter++;
  return PREFIX + counter.toString(36);
}
