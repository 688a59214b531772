/**
 * Durations in the config file: `500ms`, `30s`, `5m`, `12h`, `30d`, or a bare number of seconds, also
 * as text (what `${ENV}` substitution yields). Everything inside the gateway works in milliseconds.
 */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** Milliseconds, or `undefined` when the value is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  }
  if (typeof value !== "string") return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const [, amount, unit] = match as unknown as [string, string, string | undefined];
  return Math.round(Number(amount) * (UNIT_MS[unit ?? "s"] as number));
}

/** Sizes in the config file: `64KiB`, `10MiB`, `512B`, or a bare number of bytes. */
const SIZE = /^(\d+)\s*(B|KiB|MiB|GiB)?$/;
const UNIT_BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_BYTES[match[2] ?? "B"] as number);
}
