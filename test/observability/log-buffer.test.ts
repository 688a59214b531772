/**
 * `log.buffer`: lines to standard output are written in batches (size or 250 ms, whichever first), and
 * whatever is buffered is written when the process exits. Checked in a child process whose stdout is a pipe,
 * with the compiled logger (dist/), as the gateway runs it.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import t from "tap";
import { buildOnce, ROOT } from "../helpers/processes.js";

buildOnce();
const LOG_MODULE = path.join(ROOT, "dist/src/observability/log.js");

/**
 * Runs `script` (ESM, with `createLogger` and `mark` in scope: `mark(name)` writes `name` to stderr at once) and
 * records when each chunk of stdout and each mark arrived.
 */
function runLogger(script: string) {
  const started = performance.now();
  const chunks: { at: number; text: string }[] = [];
  const marks = new Map<string, number>();
  const prelude = `import { createLogger } from ${JSON.stringify(LOG_MODULE)};\nimport { writeSync } from "node:fs";\nconst mark = (name) => writeSync(2, name + "\\n");\n`;
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

t.test("buffered (4096 bytes): a lone line waits for the periodic flush; a burst goes out in few writes; the rest at exit", async (t) => {
  const run = runLogger(`
    const logger = createLogger("info", undefined, 4096);
    logger.info("lone");
    mark("lone");
    setTimeout(() => { for (let i = 0; i < 200; i++) logger.info("burst " + i); }, 400);
    setTimeout(() => { logger.info("last"); process.exit(0); }, 800);
  `);
  t.teardown(() => run.child.kill("SIGKILL"));
  t.equal(await run.exited, 0);
  t.same(
    lines(run.chunks),
    ["lone", ...Array.from({ length: 200 }, (_, i) => `burst ${i}`), "last"],
    "every line, in order, none lost at exit",
  );
  const waited = delay(run, "lone", "lone");
  // Logged right after the logger was made: the first flush comes 250 ms later.
  t.ok(waited >= 100 && waited < 400, `the lone line reached the pipe ${Math.round(waited)} ms after it was logged`);
  t.ok(run.chunks.length <= 20, `${run.chunks.length} writes for 202 lines`);
});

t.test("0B: each line is written as it comes", async (t) => {
  const run = runLogger(`
    const logger = createLogger("info", undefined, 0);
    logger.info("lone");
    mark("lone");
    setTimeout(() => process.exit(0), 300);
  `);
  t.teardown(() => run.child.kill("SIGKILL"));
  t.equal(await run.exited, 0);
  t.same(lines(run.chunks), ["lone"]);
  const waited = delay(run, "lone", "lone");
  t.ok(waited < 100, `the line reached the pipe ${Math.round(waited)} ms after it was logged`);
});
