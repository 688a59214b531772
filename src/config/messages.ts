/**
 * zod's own messages ("Invalid input: expected number, received string", "Too big: expected number to be
 * <=65535") said in the configuration's terms: what the key must be, what is missing, which key was meant.
 * A message the schema wrote itself (a refinement's, a duration's) is kept as it is.
 */
import type { z } from "zod";
import { configSchema } from "./schema.js";

type Issue = z.core.$ZodIssue;

/** zod's default messages start so; the schema's own never do. */
const ZOD_DEFAULT = /^(Invalid|Too (big|small)|Unrecognized)\b/;

/** The value at `path` in the parsed YAML (before the schema), for telling a missing key from a wrong one. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The message for one schema issue; `value` is what the file has there. */
export function issueMessage(issue: Issue, value: unknown): string {
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  if (issue.code === "invalid_type" && value === undefined) return "is required";
  const expected = expectation(issue);
  if (expected) return `must be ${expected}${issue.code === "invalid_value" ? "" : `, not ${kindOf(value)}`}`;
  if (issue.code === "too_small" || issue.code === "too_big") return bound(issue);
  return issue.message;
}

/** `unknown key "foo"`, with the nearest key of that section when one is close: `(did you mean "bar"?)`. */
export function unknownKeyMessage(key: string, sectionPath: readonly PropertyKey[]): string {
  const known = keysAt(configSchema, sectionPath);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const close = best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3));
  return `unknown key ${JSON.stringify(key)}${close ? ` (did you mean ${JSON.stringify(best)}?)` : ""}`;
}

/** What the key must be, as a noun phrase ("a number", `one of "a", "b"`), or undefined. */
function expectation(issue: Issue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      return TYPE_NOUNS[issue.expected] ?? `a ${issue.expected}`;
    case "invalid_value":
      return issue.values.length === 1
        ? JSON.stringify(issue.values[0])
        : `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union": {
      const nouns = issue.errors.map((branch) => (branch.length === 1 && branch[0] ? expectation(branch[0]) : undefined));
      if (nouns.length === 0 || nouns.some((n) => n === undefined)) return undefined;
      return [...new Set(nouns)].join(" or ");
    }
    default:
      return undefined;
  }
}

const TYPE_NOUNS: Record<string, string> = {
  number: "a number",
  int: "a whole number",
  string: "text",
  boolean: "true or false",
  object: "a mapping of keys",
  array: "a list",
};

/** The kind of value found, never the value itself (it may be a secret in the wrong place). */
function kindOf(value: unknown): string {
  if (value === null) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return "text";
  if (typeof value === "number") return Number.isInteger(value) ? "a whole number" : "a fraction";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

function bound(issue: Extract<Issue, { code: "too_small" | "too_big" }>): string {
  const small = issue.code === "too_small";
  const limit = Number(small ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case "number":
    case "int":
      if (inclusive) return `must be ${small ? "at least" : "at most"} ${limit}`;
      return `must be ${small ? "more" : "less"} than ${limit}`;
    case "string":
      if (small && limit === 1) return "must not be empty";
      return `must be ${small ? "at least" : "at most"} ${limit} characters`;
    case "array":
      if (small && limit === 1) return "must list at least one item";
      return `must list ${small ? "at least" : "at most"} ${limit} items`;
    default:
      return issue.message;
  }
}

/** The keys of the mapping the schema expects at `path` (empty when it expects none there). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  for (let i = 0; i <= path.length; i++) {
    const def = unwrap(node);
    if (!def) return [];
    if (i === path.length) return def.type === "object" ? Object.keys(def.shape ?? {}) : [];
    const step = path[i];
    if (def.type === "object") node = def.shape?.[step as string];
    else if (def.type === "array") node = def.element;
    else if (def.type === "record") node = def.valueType;
    else return [];
  }
  return [];
}

interface Def {
  type: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  valueType?: unknown;
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
}

/** The definition under optional/default/prefault/nullable wrappers and preprocess/transform pipes. */
function unwrap(node: unknown): Def | undefined {
  let def = (node as { _zod?: { def?: Def } } | undefined)?._zod?.def;
  for (let guard = 0; def && guard < 20; guard++) {
    let next: unknown;
    if (def.innerType !== undefined) next = def.innerType;
    else if (def.type === "pipe") next = unwrap(def.in)?.type === "transform" ? def.out : def.in;
    else return def;
    def = (next as { _zod?: { def?: Def } } | undefined)?._zod?.def;
  }
  return def;
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: "hots" is 1 from "host". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}
