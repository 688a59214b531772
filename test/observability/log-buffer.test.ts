/**
 * `log.buffer`: request lines to standard output are written in batches (size or 250 ms, whichever first),
 * whatever is buffered is written when the process exits, and every other line is written at once. Checked
 * in a child process whose stdout is a pipe, with the compiled logger (dist/), as the gateway runs it.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import t from "tap";
import { buildOnce, ROOT } from "../helpers/processes.js";

buildOnce();
const LOG_MODULE = path.join(ROOT, "dist/src/observability/log.js");
/** `line(writer, id)`: a request line whose `request_id` is `id` (request ids are never longer than 128 characters). */
const LINE = `const line = (write, id) => write({ event: "request", method: "GET", path: "/", status: 200, ms: 0.1, upstream_ms: undefined, route: "authenticated", client: "127.0.0.1", user_id: undefined, request_id: id });\n`;

/**
 * Runs `script` (ESM, with `createLogger`, `requestLineWriter`, `mark` and `line` in scope: `mark(name)` writes `name`
 * to stderr at once, `line(writer, id)` writes a request line whose `request_id` is `id`) and records when each
 * chunk of stdout and each mark arrived.
 */
function runLogger(script: string) {
  const started = performance.now();
  const chunks: { at: number; text: string }[] = [];
  const marks = new Map<string, number>();
  const prelude = `import { createLogger, requestLineWriter } from ${JSON.stringify(LOG_MODULE)};\nimport { writeSync } from "node:fs";\nconst mark = (name) => writeSync(2, name + "\\n");\n${LINE}`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", prelude + script], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (chunk: Buffer) => chunks.push({ at: performance.now() - started, text: chunk.toString("utf8") }));
  child.stderr.on("data", (chunk: Buffer) => {
    for (const name of chunk.toString("utf8").split("\n").filter(Boolean)) marks.set(name, performance.now() - started);
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { chunks, marks, exited, child };
}

/** Each line's request id (request lines) or message (any other). */
const lines = (chunks: { text: string }[]) =>
  chunks
    .map((c) => c.text)
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((text) => {
      const line = JSON.parse(text);
      return line.msg === "request" ? line.request_id : line.msg;
    });

/** How long after `mark` the line `name` (a request id or a message) reached the pipe. */
function delay(run: ReturnType<typeof runLogger>, mark: string, name: string): number {
  const chunk = run.chunks.find((c) => c.text.includes(`"request_id":"${name}"`) || c.text.includes(`"msg":"${name}"`));
  return (chunk?.at ?? Number.POSITIVE_INFINITY) - (run.marks.get(mark) ?? 0);
}

t.test(
  "buffered (2048 bytes): a lone request line waits for the periodic flush; a burst goes out in few writes; the rest at exit",
  async (t) => {
    const run = runLogger(`
    const logger = createLogger("info");
    const requests = requestLineWriter(logger, 2048);
    line(requests, "lone");
    mark("lone");
    setTimeout(() => { logger.info("startup"); mark("startup"); }, 100);
    setTimeout(() => { for (let i = 0; i < 200; i++) line(requests, "burst-" + i); }, 400);
    setTimeout(() => { line(requests, "last"); process.exit(0); }, 800);
  `);
    t.teardown(() => run.child.kill("SIGKILL"));
    t.equal(await run.exited, 0);
    const all = lines(run.chunks);
    t.same(
      all.filter((msg: string) => msg !== "startup"),
      ["lone", ...Array.from({ length: 200 }, (_, i) => `burst-${i}`), "last"],
      "every request line, in order, none lost at exit",
    );
    // The order of events, not wall-clock windows, proves the batching: those hold on a loaded machine too.
    // (Timers fire in the order they are due: the ordinary line at 100 ms, the flush at 250, the burst at 400.)
    t.comment(
      `the lone request line reached the pipe ${Math.round(delay(run, "lone", "lone"))} ms after it was logged, ` +
        `an ordinary line ${Math.round(delay(run, "startup", "startup"))} ms after`,
    );
    t.ok(
      all.indexOf("startup") < all.indexOf("lone"),
      "an ordinary line logged 100 ms later overtakes the request line still in the buffer",
    );
    const loneChunk = run.chunks.find((c) => c.text.includes('"request_id":"lone"'));
    t.notMatch(
      loneChunk?.text ?? "",
      /"request_id":"burst-/,
      "the lone line went out on the periodic flush, before the burst, not with it",
    );
    t.match(
      JSON.parse(loneChunk?.text.split("\n")[0] ?? "{}"),
      { level: "info", msg: "request", request_id: "lone" },
      "batched lines name their level too",
    );
    // One write per 2 KiB gathered (at most 4 KiB), plus the lone line's flush, the ordinary line and the exit's flush.
    const bytes = run.chunks.reduce((sum, c) => sum + Buffer.byteLength(c.text), 0);
    t.ok(run.chunks.length <= Math.ceil(bytes / 2048) + 3, `${run.chunks.length} writes for 203 lines (${bytes} bytes)`);
  },
);

/** A lone request line from a logger that must not buffer reaches the pipe at once. */
for (const [name, requests] of [
  ["0B: each request line is written as it comes", `requestLineWriter(createLogger("info"), 0)`],
  [
    "a logger with a destination of its own (tests, a file) is never buffered",
    `requestLineWriter(createLogger("info", (await import("pino")).default.destination({ dest: 1, sync: true })), 2048)`,
  ],
] as const) {
  t.test(name, async (t) => {
    const run = runLogger(`
      const requests = ${requests};
      line(requests, "lone");
      mark("lone");
      setTimeout(() => process.exit(0), 300);
    `);
    t.teardown(() => run.child.kill("SIGKILL"));
    t.equal(await run.exited, 0);
    t.same(lines(run.chunks), ["lone"]);
    const waited = delay(run, "lone", "lone");
    // Well before the exit at 300 ms, which would flush a buffer too (wide enough for a loaded machine).
    t.ok(waited < 250, `the line reached the pipe ${Math.round(waited)} ms after it was logged`);
  });
}
