/**
 * docs/migrating-from-synapse.md (issue 18 part 6): every gateway YAML block of the guide (```yaml) loads with
 * the config parser, on top of the minimal keys it leaves out; Synapse's own blocks (```yaml homeserver.yaml)
 * are at least YAML. The guide never points outside the project.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { parse as parseYaml, stringify } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { hashPassword } from "../../src/credentials/password-hash.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GUIDE = fs.readFileSync(path.join(ROOT, "docs/migrating-from-synapse.md"), "utf8");
const ENV = { GATEWAY_JWT_SECRET: "a-test-secret-that-is-at-least-32-bytes-long", GATEWAY_AS_TOKEN: "as-token-of-the-test" };
/** The keys a block may leave out; the secret as the guide writes it (`${ENV}` substituted by the loader). */
const MINIMAL = { server_name: "example.org", jwt: { secret: ["$", "{GATEWAY_JWT_SECRET}"].join("") } };

/** Fenced blocks: their info string and text. */
function fencedBlocks(markdown: string): { info: string; text: string }[] {
  return [...markdown.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ info: (m[1] as string).trim(), text: m[2] as string }));
}

t.test("every gateway YAML block of the guide is a valid configuration", async (t) => {
  const dir = t.testdir({ "users.yaml": `users:\n  alice: "${await hashPassword("file-pass-alice")}"\n` });
  const blocks = fencedBlocks(GUIDE).filter((b) => b.info === "yaml");
  t.ok(blocks.length >= 5, `${blocks.length} gateway blocks`);
  for (const [i, block] of blocks.entries()) {
    const merged = { ...MINIMAL, ...(parseYaml(block.text) as Record<string, unknown>) };
    const config = parseConfig(stringify(merged), path.join(dir, `guide-${i}.yaml`), { env: ENV });
    t.equal(config.server_name, "example.org", `block ${i + 1} loads`);
  }
});

t.test("the guide's blocks mean what it says", async (t) => {
  const dir = t.testdir({ "users.yaml": "users: {}\n" });
  const load = (text: string) => parseConfig(stringify({ ...MINIMAL, ...parseYaml(text) }), path.join(dir, "g.yaml"), { env: ENV });
  const blocks = fencedBlocks(GUIDE).filter((b) => b.info === "yaml");
  const limits = blocks.find((b) => b.text.includes("rc_login"));
  t.strictSame(load(limits?.text ?? "").rate_limits.login.per_address, { per_second: 0.003, burst_count: 5 });
  const migration = blocks.find((b) => b.text.includes("accept_homeserver_tokens_until"));
  t.equal(load(migration?.text ?? "").migration.accept_homeserver_tokens_until, Date.parse("2027-03-01T00:00:00Z"));
});

t.test("Synapse's blocks are YAML; the guide points nowhere outside the project", async (t) => {
  const synapse = fencedBlocks(GUIDE).filter((b) => b.info === "yaml homeserver.yaml");
  t.ok(synapse.length >= 2);
  for (const block of synapse) t.doesNotThrow(() => parseYaml(block.text));
  t.notMatch(GUIDE, /\.\.\/shared|synapse-reference|contract\.md/);
});
