// biome-ignore-all lint/suspicious/noTemplateCurlyInString: YAML texts contain literal ${ENV} references
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

t.test("comments of commented-out keys, shared blocks and list items are found", async (t) => {
  const { z } = await import("zod");
  const schema = z.strictObject({
    section: z
      .strictObject({
        live: z.string().default("a"),
        secret: z.string().optional(),
        secret_file: z.string().optional(),
        key: z.string().optional(),
        key_file: z.string().optional(),
      })
      .prefault({}),
    extra: z.strictObject({ enabled: z.boolean().optional() }).prefault({}),
    items: z.array(z.strictObject({ name: z.string() })).optional(),
  });
  const yaml = [
    "section:",
    "  # Default a. A live key.",
    "  live: a",
    "  # secret: the secret itself.",
    "  # secret: ${SECRET}",
    "  # Default: none. A key, and its file.",
    "  # key: ${KEY}",
    "  # key_file: /etc/key",
    "",
    "# enabled — default: on. Turns it on.",
    "extra: {}",
    "#  enabled: true",
    "",
    "# Named things:",
    "#  - {name: x}",
    "items: []",
  ].join("\n");
  const comments = renderConfigReference(schema, yaml);
  t.same(comments.missing, ["section.secret_file", "items[].name"]);
  t.match(comments.markdown, "| `section.live` | string | `a` | A live key. |");
  t.match(comments.markdown, "| `section.secret` | string | unset | The secret itself. |");
  t.match(comments.markdown, "| `section.key_file` | string | none | A key, and its file. |");
  t.match(comments.markdown, "| `extra.enabled` | boolean | on | Turns it on. |");
  t.match(comments.markdown, "| `items` | list of objects | unset | Named things. |");
});
