/**
 * docs/configuration.md is generated from the schema and the example file's comments: it must match what the
 * generator writes now, and every key must have a description.
 */
import fs from "node:fs";
import t from "tap";
import { EXAMPLE, OUTPUT, renderConfigReference, splitDefault } from "../../scripts/config-reference.mjs";
import { configSchema } from "../../src/config/schema.js";

const { markdown, missing } = renderConfigReference(configSchema, fs.readFileSync(EXAMPLE, "utf8"));

t.test("every schema key has a description in config/gateway.example.yaml", async (t) => {
  t.same(missing, [], "describe these keys with a comment above them in config/gateway.example.yaml");
});

t.test("docs/configuration.md is up to date", async (t) => {
  const current = fs.existsSync(OUTPUT) ? fs.readFileSync(OUTPUT, "utf8") : "";
  t.ok(current === markdown, "docs/configuration.md differs from the schema: run `npm run docs:config`");
});

t.test("every schema key has a row", async (t) => {
  for (const key of ["jwt.keys[].kid", "rate_limits.routes.<name>.points", "metrics.listen.port", "tokens.access_ttl"]) {
    t.match(markdown, `| \`${key}\` |`, key);
  }
  t.match(markdown, "| `tokens.access_ttl` | duration | `5m` |");
  t.match(markdown, "| `http.max_json_body` | size | `64KiB` |");
  t.match(markdown, "| `jwt.audience` | string | server_name |", "a computed default comes from the example's comment");
});

t.test("a new key without a comment is reported", async (t) => {
  const { z } = await import("zod");
  const extended = configSchema.extend({ extra: z.strictObject({ knob: z.string().default("x") }).prefault({}) });
  const result = renderConfigReference(extended, fs.readFileSync(EXAMPLE, "utf8"));
  t.same(result.missing, ["extra.knob"]);
  const documented = renderConfigReference(
    extended,
    `${fs.readFileSync(EXAMPLE, "utf8")}\nextra:\n  # Default x. A knob.\n  knob: x\n  # not a key: ignored\n`,
  );
  t.same(documented.missing, []);
  t.match(documented.markdown, "| `extra.knob` | string | `x` | A knob. |");
});

t.test("the stated default is split from the description", async (t) => {
  t.same(splitDefault("Default 5m. Lifetime.", "access_ttl"), { stated: "5m", description: "Lifetime." });
  t.same(splitDefault("enabled — default: true with x, false with y. Text.", "enabled"), {
    stated: "true with x, false with y",
    description: "Text.",
  });
  t.same(splitDefault("Several keys. Default: none.", "keys"), { stated: "none", description: "Several keys." });
});
