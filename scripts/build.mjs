#!/usr/bin/env node
/**
 * Compiles src/ to dist/src/ (what the package ships and `bin` runs), from a clean dist/ so that a renamed
 * source leaves no stale file behind.
 *
 *   node scripts/build.mjs                  `npm run build`, and npm's `prepack` (so `npm pack` ships a fresh build)
 *   node scripts/build.mjs --if-available   npm's `prepare` (after `npm ci` in a clone): builds when TypeScript is
 *                                           installed; after `npm ci --omit=dev` there is none, and it says so
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const ifAvailable = process.argv.includes("--if-available");

// `npm pack` and `npm publish` run `prepare` after `prepack`: the build is done already.
if (ifAvailable && (process.env.npm_command === "pack" || process.env.npm_command === "publish")) process.exit(0);

let tsc;
try {
  tsc = createRequire(path.join(root, "package.json")).resolve("typescript/bin/tsc");
} catch {
  if (!ifAvailable) {
    console.error("build: TypeScript is not installed (it is a dev dependency): run `npm ci` first");
    process.exit(1);
  }
  const built = fs.existsSync(path.join(root, "dist/src/cli.js"));
  console.log(
    built
      ? "build: no TypeScript here (production install): dist/ is used as it is"
      : "build: no TypeScript here (production install) and no dist/: build it where dev dependencies are installed " +
          "(`npm ci && npm run build`), or install the packed package (`npm pack`), which ships dist/",
  );
  process.exit(0);
}
fs.rmSync(path.join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
