/**
 * The runtime: package.json asks for Node 22 or later, the suite runs on such a Node, and scripts/node24.sh
 * (what .ci/run and developers use to get Node 24) hands back the Node 24 it runs on, with its headers for
 * node-gyp, without fetching anything.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { ROOT } from "../helpers/processes.js";

const run = promisify(execFile);
const major = Number(process.versions.node.split(".")[0]);

t.test("engines: Node 22 or later, and the suite runs on one", async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  t.equal(pkg.engines.node, ">=22");
  t.ok(major >= 22, `running on Node ${process.versions.node}`);
  t.match(pkg.devDependencies["@types/node"], /^\^24\./, "the types of the Node it is tested on");
});

t.test(
  "scripts/node24.sh on a Node 24 prints the lines that put it first on PATH, with its headers",
  { skip: major === 24 ? false : `running on Node ${major}: node24.sh would fetch Node 24 (.ci/run does)` },
  async (t) => {
    const bin = path.dirname(process.execPath);
    const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}` };
    const { stdout, stderr } = await run("bash", [path.join(ROOT, "scripts/node24.sh")], { env, timeout: 60_000 });
    t.equal(stderr, "", "nothing fetched");
    const home = path.dirname(bin);
    t.equal(stdout, `export PATH=${bin}:"$PATH"\nexport npm_config_nodedir=${home}\n`);
    t.ok(fs.existsSync(path.join(home, "include/node/node.h")), "node-gyp finds Node 24's headers there");
  },
);
