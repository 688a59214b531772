/**
 * Log lines name their level (`"level":"info"`), on every logger the gateway makes: the main one, its
 * children (workers, request lines) and the request-line writer.
 */
import { Writable } from "node:stream";
import t from "tap";
import { createLogger, requestLineWriter } from "../../src/observability/log.js";

function sink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

t.test("every line carries its level's name", async (t) => {
  const { lines, stream } = sink();
  const logger = createLogger("debug", stream);
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  logger.fatal("f");
  logger.child({ worker: 2 }).info("child");
  requestLineWriter(
    logger,
    2048,
  )?.({
    event: "request",
    method: "GET",
    path: "/",
    status: 200,
    ms: 1,
    upstream_ms: undefined,
    route: "authenticated",
    client: "127.0.0.1",
    user_id: undefined,
    request_id: "r",
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.same(
    lines.map((line) => [line.level, line.msg]),
    [
      ["debug", "d"],
      ["info", "i"],
      ["warn", "w"],
      ["error", "e"],
      ["fatal", "f"],
      ["info", "child"],
      ["info", "request"],
    ],
  );
  t.equal(lines[5]?.worker, 2);
});

t.test("the level filter still works on names", async (t) => {
  const { lines, stream } = sink();
  const logger = createLogger("warn", stream);
  logger.info("hidden");
  logger.warn({ event: "x" }, "shown");
  await new Promise((resolve) => setImmediate(resolve));
  t.match(lines, [{ level: "warn", event: "x", msg: "shown" }]);
  t.equal(lines.length, 1);
});
