/**
 * The value types of the configuration file (numbers and booleans from `${ENV}` text, durations, sizes,
 * addresses, endpoint patterns, rate limits in either form, ISO 8601 moments), shared by the sections in
 * `schema.ts`. Each checks its value once, when the file is loaded, and says what is wrong in the operator's terms.
 */
import net from "node:net";
import { z } from "zod";
import { patternProblem } from "../proxy/endpoint-pattern.js";
import { parseDuration, parseSize } from "./duration.js";

/**
 * `${ENV}` substitution always yields text, so number and boolean keys also take the plain text of one
 * ("8080", "true"): `port: ${GATEWAY_PORT}` works as an operator expects. Any other text stays a type error.
 */
export const numeric = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (typeof value === "string" && /^[+-]?\d+$/.test(value) ? Number(value) : value), schema);
export const flag = () => z.preprocess((value) => (value === "true" ? true : value === "false" ? false : value), z.boolean());

export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `not a duration: ${JSON.stringify(value)} (use e.g. 500ms, 30s, 5m, 12h, 30d)` });
    return z.NEVER;
  }
  return ms;
});

export const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `not a size: ${JSON.stringify(value)} (use e.g. 512B, 64KiB, 10MiB)` });
    return z.NEVER;
  }
  return bytes;
});

export const httpUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.pathname === "/" && !url.search;
    } catch {
      return false;
    }
  },
  { message: "must be an http(s) URL with no path, e.g. http://127.0.0.1:8008" },
);

/**
 * Where clients reach the gateway (`public_baseurl`): https, or http on a loopback host; any path, which is
 * given a trailing slash (the OAuth issuer is this URL exactly, and endpoints are resolved against it).
 */
export const publicBaseUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be an https URL, e.g. https://matrix.example.org/" });
    return z.NEVER;
  }
  const loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    ctx.addIssue({ code: "custom", message: "must be https (http only on localhost, 127.0.0.1 or [::1])" });
    return z.NEVER;
  }
  if (url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: "custom", message: "must have no query, fragment or credentials" });
    return z.NEVER;
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
});

export const cidr = z.string().refine(
  (value) => {
    const [address, bits, ...rest] = value.split("/");
    const family = net.isIP(address ?? "");
    if (!family || rest.length) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
  },
  { message: "must be an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8" },
);

/** Either form of a limit (`LimitDefault`); the two are not mixed. */
export const limitFields = {
  points: numeric(z.number().int().positive()).optional(),
  duration: duration.refine((ms) => ms >= 1000, { message: "must be at least 1s" }).optional(),
  block: duration.optional(),
  per_second: z
    .preprocess((value) => (typeof value === "string" && /^\d*\.?\d+$/.test(value) ? Number(value) : value), z.number().positive())
    .optional(),
  burst_count: numeric(z.number().int().positive()).optional(),
};
export type LimitFields = { points?: number; duration?: number; block?: number; per_second?: number; burst_count?: number };
export const checkLimitForm = (value: LimitFields, ctx: z.RefinementCtx) => {
  const missing = (key: string) =>
    ctx.addIssue({ code: "custom", path: [key], message: "Invalid input: expected a number, received nothing" });
  if (value.per_second !== undefined || value.burst_count !== undefined) {
    if (value.points !== undefined || value.duration !== undefined || value.block !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: "either {per_second, burst_count} (Synapse's terms) or {points, duration, block}, not both",
      });
    }
    if (value.per_second === undefined) missing("per_second");
    if (value.burst_count === undefined) missing("burst_count");
  } else {
    if (value.points === undefined) missing("points");
    if (value.duration === undefined) missing("duration");
  }
};
export const limitSpec = z.strictObject(limitFields).superRefine(checkLimitForm);
/** A limit with its default (`schema.ts`: the `DEFAULT_` constants, in either form). */
export const limit = (fallback: LimitFields | { points: number; duration: string; block?: string }) =>
  limitSpec.prefault(fallback as LimitFields);
/** A Synapse `rc_*` block, pasted from homeserver.yaml: `{per_second, burst_count}` only. */
export const synapseLimit = z.strictObject({
  per_second: limitFields.per_second.unwrap(),
  burst_count: limitFields.burst_count.unwrap(),
});

/** Checked by the compiler itself, so that what passes `--check` is exactly what starts. */
export const endpointPattern = z.string().superRefine((pattern, ctx) => {
  const problem = patternProblem(pattern);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** ISO 8601: a date (00:00 UTC) or a date-time (UTC unless it names its offset); epoch ms out. */
const ISO_MOMENT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/i;
export const moment = z.union([z.string(), z.date()]).transform((value, ctx) => {
  if (value instanceof Date) return value.getTime();
  const hasTime = value.length > 10;
  const zoned = !hasTime || /(?:Z|[+-]\d{2}:\d{2})$/i.test(value) ? value : `${value}Z`;
  const ms = ISO_MOMENT.test(value) ? Date.parse(zoned) : Number.NaN;
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: "custom", message: `not an ISO 8601 date or date-time: ${JSON.stringify(value)} (e.g. 2027-03-01)` });
    return z.NEVER;
  }
  return ms;
});
