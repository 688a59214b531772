/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and sums time per function and per area
 * (gateway file, npm package, Node internals, GC), as Markdown tables.
 */
import { readFileSync } from "node:fs";

const SPECIAL = new Set(["(garbage collector)", "(program)", "(idle)", "(root)"]);

/** Where a function lives, shortened: `dist/src/proxy/forward.js`, `http-proxy-3`, `node:_http_server`. */
function place(url) {
  if (!url) return "";
  if (url.startsWith("node:")) return url;
  const inModules = url.lastIndexOf("/node_modules/");
  if (inModules !== -1) {
    const rest = url.slice(inModules + 14).split("/");
    const pkg = rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
    return `${pkg}/${rest.slice(rest[0].startsWith("@") ? 2 : 1).join("/")}`;
  }
  const inDist = url.indexOf("/dist/src/");
  if (inDist !== -1) return url.slice(inDist + 1);
  return url.replace(/^file:\/\//, "");
}

/** The area a function's time is charged to in the summary by area. */
function area(frame) {
  if (SPECIAL.has(frame.functionName) && !frame.url) return frame.functionName;
  const where = place(frame.url);
  if (!where) return "(native / V8 builtins)";
  if (where.startsWith("node:")) return `node internals: ${where.replace(/^node:(internal\/)?/, "").split("/")[0]}`;
  if (where.startsWith("dist/src/")) return `gateway: ${where.slice(9)}`;
  if (!where.startsWith("/")) return `package: ${where.split("/")[where.startsWith("@") ? 1 : 0]}`;
  return where;
}

const key = (frame) => {
  const name = frame.functionName || "(anonymous)";
  const where = place(frame.url);
  return where ? `${name} — ${where}:${frame.lineNumber + 1}` : name;
};

export function summarize(file, { top = 25 } = {}) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);

  const self = new Map();
  const inclusive = new Map();
  const byArea = new Map();
  let total = 0;
  let idle = 0;
  const add = (map, k, v) => map.set(k, (map.get(k) ?? 0) + v);
  // Each sample stands for the time until the next one.
  for (let i = 0; i < profile.samples.length; i++) {
    const micros = profile.timeDeltas[i + 1] ?? 0;
    const node = nodes.get(profile.samples[i]);
    total += micros;
    if (node.callFrame.functionName === "(idle)") {
      idle += micros;
      continue;
    }
    add(self, key(node.callFrame), micros);
    add(byArea, area(node.callFrame), micros);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const k = key(nodes.get(id).callFrame);
      if (!seen.has(k)) add(inclusive, k, micros);
      seen.add(k);
    }
  }
  const busy = total - idle;
  const rows = (map, filter = () => true) =>
    [...map]
      .filter(([k]) => filter(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `| ${k.replace(/\|/g, "\\|")} | ${(v / 1000).toFixed(0)} | ${((100 * v) / busy).toFixed(1)}% |`);
  const header = (what) => [`| ${what} | ms | % of busy |`, "|---|---:|---:|"];
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    markdown: [
      `Busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled.`,
      "",
      "Self time by area:",
      "",
      ...header("area"),
      ...rows(byArea),
      "",
      `Top ${top} functions by self time:`,
      "",
      ...header("function — file:line"),
      ...rows(self),
      "",
      "Gateway functions by inclusive time (self + callees):",
      "",
      ...header("function — file:line"),
      ...rows(inclusive, (k) => k.includes("dist/src/")),
      "",
    ].join("\n"),
  };
}
