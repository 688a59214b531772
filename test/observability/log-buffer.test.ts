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

/**
 * Runs `script` (ESM, with `createLogger`, `requestLineLogger` and `mark` in scope: `mark(name)` writes `name`
 * to stderr at once) and
 * records when each chunk of stdout and each mark arrived.
 */
function runLogger(script: string) {
  const started = performance.now();
  const chunks: { at: number; text: string }[] = [];
  const marks = new Map<string, number>();
  const prelude = `import { createLogger, requestLineLogger } from ${JSON.stringify(LOG_MODULE)};\nimport { writeSync } from "node:fs";\nconst mark = (name) => writeSync(2, name + "\\n");\n`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", prelude + script], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (chunk: Buffer) => chunks.push({ at: performance.now() - started, text: chunk.toString("utf8") }));
  child.stderr.on("data", (chunk: Buffer) => {
    for (const name of chunk.toString("utf8").split("\n").filter(Boolean)) marks.set(name, performance.now() - started);
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { chunks, marks, exited, child };
}

const lines = (chunks: { text: string }[]) =>
  chunks
    .map((c) => c.text)
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line).msg);

/** How long after `mark` the line `msg` reached the pipe. */
function delay(run: ReturnType<typeof runLogger>, mark: string, msg: string): number {
  const chunk = run.chunks.find((c) => c.text.includes(`"msg":"${msg}"`));
  return (chunk?.at ?? Number.POSITIVE_INFINITY) - (run.marks.get(mark) ?? 0);
}

t.test(
  "buffered (2048 bytes): a lone request line waits for the periodic flush; a burst goes out in few writes; the rest at exit",
  async (t) => {
    const run = runLogger(`
    const logger = createLogger("info");
    const requests = requestLineLogger(logger, 2048);
    requests.info("lone");
    mark("lone");
    setTimeout(() => { logger.info("startup"); mark("startup"); }, 100);
    setTimeout(() => { for (let i = 0; i < 200; i++) requests.info("burst " + i); }, 400);
    setTimeout(() => { requests.info("last"); process.exit(0); }, 800);
  `);
    t.teardown(() => run.child.kill("SIGKILL"));
    t.equal(await run.exited, 0);
    const all = lines(run.chunks);
    t.same(
      all.filter((msg: string) => msg !== "startup"),
      ["lone", ...Array.from({ length: 200 }, (_, i) => `burst ${i}`), "last"],
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
    const loneChunk = run.chunks.find((c) => c.text.includes('"msg":"lone"'));
    t.notMatch(loneChunk?.text ?? "", /"msg":"burst /, "the lone line went out on the periodic flush, before the burst, not with it");
    t.match(JSON.parse(loneChunk?.text.split("\n")[0] ?? "{}"), { level: "info", msg: "lone" }, "batched lines name their level too");
    t.ok(run.chunks.length <= 20, `${run.chunks.length} writes for 203 lines`);
  },
);

/** A lone request line from a logger that must not buffer reaches the pipe at once. */
for (const [name, requests] of [
  ["0B: each request line is written as it comes", `requestLineLogger(createLogger("info"), 0)`],
  [
    "a logger with a destination of its own (tests, a file) is never buffered",
    `requestLineLogger(createLogger("info", (await import("pino")).default.destination({ dest: 1, sync: true })), 2048)`,
  ],
] as const) {
  t.test(name, async (t) => {
    const run = runLogger(`
      const requests = ${requests};
      requests.info("lone");
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
