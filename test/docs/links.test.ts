/**
 * Every relative link in docs/ points to a file of the repository, and every `#anchor` to a heading of its
 * page (GitHub's slugs). Nothing points outside the repository.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DOCS = path.join(ROOT, "docs");

/** GitHub's heading anchors: lower case, punctuation dropped (but `-` and `_`), spaces to `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchors(file: string): Set<string> {
  const text = fs.readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] as string)));
}

const pages = fs.readdirSync(DOCS).filter((name) => name.endsWith(".md"));
/** The repository's own pages outside docs/, checked the same way (README.md links into docs/). */
const ROOT_PAGES = ["README.md", "CHANGELOG.md", "bench/README.md"].map((name) => path.join(ROOT, name));

t.test("docs/ has its pages", async (t) => {
  for (const page of ["README.md", "api.md", "configuration.md", "operations.md", "security.md", "benchmarks.md"]) {
    t.ok(pages.includes(page), page);
  }
});

for (const file of [...pages.map((page) => path.join(DOCS, page)), ...ROOT_PAGES]) {
  t.test(`links of ${path.relative(ROOT, file)}`, async (t) => {
    const text = fs.readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
    t.notMatch(text, /\.\.\/shared|\/work\//, "no reference outside the repository");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue; // https: and the like
      const [link = "", anchor] = (target as string).split("#");
      const resolved = link ? path.resolve(path.dirname(file), link) : file;
      t.ok(resolved.startsWith(`${ROOT}${path.sep}`), `${target} stays inside the repository`);
      t.ok(fs.existsSync(resolved), `${target} exists`);
      if (anchor && resolved.endsWith(".md") && fs.existsSync(resolved)) {
        t.ok(anchors(resolved).has(anchor), `${target}: the heading exists`);
      }
    }
  });
}
