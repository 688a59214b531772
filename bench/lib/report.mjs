/**
 * Turns the results into Markdown tables (printed and written to bench/results/latest.md), an SVG chart
 * (bench/results/latest.svg) and the raw JSON (bench/results/latest.json).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { barChart } from "./svg.mjs";

/**
 * Writes `name`.md, `name`.json and, when there is a chart, `name`.svg into `dir`; prints the report and
 * what was written. Every benchmark command ends with it.
 */
export function writeResults(dir, name, { markdown, json, svg }) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.md`), markdown);
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  if (svg !== undefined) writeFileSync(path.join(dir, `${name}.svg`), svg);
  console.log(`\n${markdown}`);
  console.log(`Written: ${path.relative(process.cwd(), dir)}/${name}.{md,json${svg === undefined ? "" : ",svg"}}`);
}

const fixed = (digits) => (v) => (v === undefined || Number.isNaN(v) ? "–" : v.toFixed(digits));
const ratio = (a, b) => (a === undefined || b === undefined ? "–" : `${(a / b).toFixed(2)}×`);
const mib = (bytes) => (bytes / 1048576).toFixed(1);

/** A Markdown table: the first column left-aligned, the others right-aligned. */
export function table(header, lines) {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...lines.map((l) => `| ${l.join(" | ")} |`),
  ].join("\n");
}

/** The HTTP table: each row against the bare http-proxy-3 and the direct row of the same path. */
export function httpTable(rows) {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const lines = rows.map((row) => {
    const bare = byId.get(`bare/${row.name}`);
    const direct = byId.get(`direct/${row.name}`);
    const compare = bare !== undefined && row.name !== "login";
    return [
      `${row.label} — ${row.name}`,
      fixed(0)(row.requestsPerSec),
      fixed(2)(row.p50Ms),
      fixed(2)(row.p99Ms),
      fixed(0)(row.proxyCpuUsPerReq),
      fixed(0)(row.upstreamCpuUsPerReq),
      compare ? ratio(row.requestsPerSec, bare?.requestsPerSec) : "–",
      compare ? ratio(row.requestsPerSec, direct?.requestsPerSec) : "–",
      compare ? ratio(row.proxyCpuUsPerReq, bare?.proxyCpuUsPerReq) : "–",
    ];
  });
  return table(
    [
      "scenario — path",
      "req/s",
      "p50 ms",
      "p99 ms",
      "proxy CPU µs/req",
      "upstream CPU µs/req",
      "req/s ÷ bare",
      "req/s ÷ direct",
      "CPU ÷ bare",
    ],
    lines,
  );
}

/**
 * Ratios to the bare http-proxy-3 paired round by round (the issue-8/16 targets): median with min–max over the
 * rounds kept, and how many noisy rounds (another process on the server's CPU) were left out.
 */
export function pairedTable(rows) {
  const span = (p) => (p ? `${p.median.toFixed(2)}× (${p.min.toFixed(2)}–${p.max.toFixed(2)}, n=${p.n})` : "–");
  const lines = rows
    .filter((row) => row.paired)
    .map((row) => [row.label, span(row.paired.rps), span(row.paired.cpu), String(row.paired.dropped)]);
  return table(["scenario (whoami)", "req/s ÷ bare, same round", "CPU/req ÷ bare, same round", "noisy rounds left out"], lines);
}

/** Ratios to bare http-proxy-3 measured side by side (both loaded at once on the server CPU): median and min–max. */
export function sideBySideTable(sideBySide) {
  const span = (p) => (p ? `${p.median.toFixed(2)}× (${p.min.toFixed(2)}–${p.max.toFixed(2)}, n=${p.n})` : "–");
  return table(
    ["scenario (whoami)", "CPU/req ÷ bare, side by side", "req/s ÷ bare, side by side"],
    sideBySide.map((row) => [row.label, span(row.cpu), span(row.rps)]),
  );
}

export function refreshTable(refresh) {
  return table(
    ["store", "refresh ops/s", "p50 µs", "p99 µs", "CPU µs/op"],
    refresh.map((r) => [r.store, fixed(0)(r.opsPerSec), fixed(0)(r.p50Us), fixed(0)(r.p99Us), fixed(1)(r.cpuUsPerOp)]),
  );
}

export function footprintTable(footprint) {
  return table(
    [
      "store",
      "live sessions",
      "time to create s",
      "process RSS MiB",
      "RSS growth MiB",
      "bytes/session (RSS)",
      "heap growth MiB",
      "sqlite file MiB",
    ],
    footprint.map((f) => [
      f.store,
      `${f.created}${f.created < f.requested ? ` of ${f.requested} (time cap)` : ""}`,
      fixed(1)(f.seconds),
      mib(f.rssBytes),
      mib(f.rssDeltaBytes),
      fixed(0)(f.rssDeltaBytes / f.created),
      mib(f.heapDeltaBytes),
      f.fileBytes === undefined ? "–" : mib(f.fileBytes),
    ]),
  );
}

export function markdown(results) {
  const { machine, settings, http, sessions } = results;
  return [
    `Run of ${results.date}: ${machine.cpus} (nproc ${machine.nproc}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}; ` +
      `1-min load average ${machine.loadAverage.start.toFixed(1)} at the start, ${machine.loadAverage.end.toFixed(1)} at the end.`,
    `Settings: ${settings.rounds} interleaved rounds × ${settings.durationSec} s measured (${settings.warmupSec} s warm-up before each server's first round, ${settings.sideBySideWarmupSec} s before each scenario's side-by-side rounds), ` +
      `${settings.connections} connections; medians of the rounds. Total time ${results.totalSeconds.toFixed(0)} s.`,
    "",
    "### HTTP (loopback)",
    "",
    httpTable(http.rows),
    "",
    "Ratios to bare http-proxy-3 paired by round (each gateway round against the bare round of the same pass):",
    "",
    pairedTable(http.rows),
    "",
    ...(http.sideBySide?.length
      ? [
          "Ratios to bare http-proxy-3 side by side (both loaded at the same time on the server CPU, each by its own load generator, so that both meet the same machine; sharing the CPU, their requests/s follow their CPU per request):",
          "",
          sideBySideTable(http.sideBySide),
          "",
        ]
      : []),
    ...http.notes.map((n) => `- ${n}`),
    "",
    "### Refresh (session service called directly, one caller)",
    "",
    refreshTable(sessions.refresh),
    "",
    "### Memory with live sessions (session service called directly, default session cache of 100,000 entries; both stores filled side by side, one process each)",
    "",
    footprintTable(sessions.footprint),
    "",
  ].join("\n");
}

const COLORS = { direct: "#9e9e9e", reference: "#4a7ebb", gateway: "#e07b39", login: "#5a9e5a" };

function kind(id) {
  if (id.startsWith("direct/")) return "direct";
  if (id.endsWith("/login")) return "login";
  if (/^(bare|undici|nginx)\//.test(id)) return "reference";
  return "gateway";
}

/** Proxied requests in four panels, login in two more (its numbers would flatten the others' bars). */
export function chart(results) {
  const proxied = results.http.rows.filter((row) => row.name !== "login");
  const logins = results.http.rows.filter((row) => row.name === "login");
  const bars = (rows, key) => rows.map((row) => ({ label: `${row.label} — ${row.name}`, color: COLORS[kind(row.id)], value: row[key] }));
  const whole = (v) => v.toFixed(0);
  const ms = (v) => v.toFixed(2);
  const panels = [
    { title: "requests/s (higher is better)", format: whole, bars: bars(proxied, "requestsPerSec") },
    { title: "proxy CPU µs per request (lower is better)", format: whole, bars: bars(proxied, "proxyCpuUsPerReq") },
    { title: "p50 latency, ms", format: ms, bars: bars(proxied, "p50Ms") },
    { title: "p99 latency, ms", format: ms, bars: bars(proxied, "p99Ms") },
  ];
  if (logins.length) {
    panels.push(
      { title: "login: requests/s", format: whole, bars: bars(logins, "requestsPerSec") },
      { title: "login: gateway CPU µs per request", format: whole, bars: bars(logins, "proxyCpuUsPerReq") },
    );
  }
  return barChart({
    title: "matrix-auth-gateway benchmark (loopback)",
    subtitle:
      `${results.date} · nproc ${results.machine.nproc} · Node ${results.machine.node} · ` +
      `${results.settings.rounds} rounds × ${results.settings.durationSec} s, ${results.settings.connections} connections, medians`,
    panels,
    legend: [
      { label: "direct", color: COLORS.direct },
      { label: "reference proxies", color: COLORS.reference },
      { label: "gateway", color: COLORS.gateway },
      { label: "gateway login", color: COLORS.login },
    ],
  });
}
