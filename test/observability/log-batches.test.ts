/**
 * `log.buffer`'s batches as the pipe sees them: several processes (workers) write request lines with
 * multi-byte characters to one shared standard output, in bursts and at exit. Every write a process makes to
 * it holds whole lines and at most 4096 bytes (PIPE_BUF: a write to a pipe that size is atomic), so no line
 * is cut or interleaved with another process's, and none is lost, not even when a process exits while the pipe is
 * full (the parent reads while three write as fast as they can). Each child records its own writes to fd 1
 * (through `fs.write`/`fs.writeSync`, which sonic-boom calls; an attempt that met a full pipe counts too) on
 * its stderr.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import t from "tap";
import { buildOnce, ROOT } from "../helpers/processes.js";

buildOnce();
const LOG_MODULE = path.join(ROOT, "dist/src/observability/log.js");
const WORKERS = 3;
const LINES = 1500;
/** Multi-byte in UTF-8 (2, 3 and 4 bytes): a batch counted in characters instead of bytes would overflow. */
const USER = "@zoë_例え_🎉:example.org";

const child = `
import fs from "node:fs";
import { createLogger, requestLineWriter } from ${JSON.stringify(LOG_MODULE)};
const { write, writeSync } = fs;
const record = (fd, data, how) => {
  if (fd !== 1) return;
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(String(data), "utf8");
  const whole = bytes[0] === 0x7b && bytes[bytes.length - 1] === 0x0a;
  writeSync(2, "write " + bytes.length + " " + whole + " " + how + "\\n");
};
fs.write = function (fd, data, ...rest) { record(fd, data, "async"); return write.call(this, fd, data, ...rest); };
fs.writeSync = function (fd, data, ...rest) { record(fd, data, "sync"); return writeSync.call(this, fd, data, ...rest); };
const worker = Number(process.argv[1]);
const requests = requestLineWriter(createLogger("info"), 2048);
let i = 0;
function burst() {
  for (const end = Math.min(i + 97, ${LINES}); i < end; i++) {
    requests({ event: "request", method: "GET", path: "/" + "x".repeat(i % 300), status: 200, ms: 0.1, upstream_ms: undefined, route: "authenticated", client: "127.0.0.1", user_id: ${JSON.stringify(USER)}, request_id: worker + ":" + i });
  }
  if (i < ${LINES}) setImmediate(burst);
  else process.exit(0); // at once: what is still buffered is written at exit
}
burst();
`;

t.test(`${WORKERS} processes share one stdout: whole lines, writes of at most 4096 bytes, none lost`, async (t) => {
  const script = JSON.stringify(child);
  const workers = Array.from({ length: WORKERS }, (_, w) => `"$NODE" --input-type=module -e "$SCRIPT" ${w} &`).join(" ");
  const run = spawn("sh", ["-c", `${workers} wait`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE: process.execPath, SCRIPT: JSON.parse(script) },
  });
  t.teardown(() => run.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  run.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  run.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  t.equal(await new Promise((resolve) => run.on("close", resolve)), 0);

  const seen = Array.from({ length: WORKERS }, () => [] as number[]);
  const lines = stdout.split("\n");
  t.equal(lines.pop(), "", "the output ends with a whole line");
  const users = new Set<string>();
  for (const line of lines) {
    const entry = JSON.parse(line); // throws on a cut or interleaved line
    users.add(entry.user_id);
    const [worker, i] = String(entry.request_id).split(":").map(Number);
    seen[worker as number]?.push(i as number);
  }
  t.same([...users], [USER], "multi-byte characters intact");
  const all = Array.from({ length: LINES }, (_, i) => i);
  for (const [worker, indexes] of seen.entries()) t.same(indexes, all, `worker ${worker}: every line, in order`);

  const writes = stderr
    .split("\n")
    .filter((line) => line.startsWith("write "))
    .map((line) => line.split(" "))
    .map(([, bytes, whole, how]) => ({ bytes: Number(bytes), whole: whole === "true", how }))
    .filter((w) => w.bytes > 0); // sonic-boom's periodic flush may write an empty buffer: nothing reaches the pipe
  t.ok(writes.length > WORKERS && writes.length < (WORKERS * LINES) / 4, `${writes.length} writes for ${WORKERS * LINES} lines`);
  t.same(
    writes.filter((w) => !w.whole || w.bytes > 4096),
    [],
    "every write is whole lines of at most 4096 bytes",
  );
  // Synchronous writes: no batch is ever in flight when a process exits, so the flush at exit has it all.
  t.same(
    writes.filter((w) => w.how !== "sync"),
    [],
    "every batch is written synchronously",
  );
});
