/**
 * The line each request ends with is written by one `JSON.stringify` (log.ts, `requestLineWriter`), not by pino's
 * general path, and must be the very bytes pino writes for `logger.info(fields, "request")`: collectors and the
 * operators' queries read both kinds of line alike. Generated fields (quotes, backslashes, control characters,
 * non-ASCII, numbers, absent fields) and bindings are held to a pino child logger's own line.
 */
import { Writable } from "node:stream";
import fc from "fast-check";
import t from "tap";
import { createLogger, type RequestLineFields, requestLineWriter } from "../../src/observability/log.js";

/** A destination that keeps every line as written. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split(/(?<=\n)/));
      done();
    },
  });
  return { lines, stream };
}

/** The time is the only field that may differ between two lines written a moment apart. */
const TIME = /^(\{"level":"info","time":)\d+,/;
const sameTime = (line: string) => line.replace(TIME, "$1<time>,");

/** Strings as the homeserver and clients might send them: any well-formed text, escapes and non-ASCII included. */
const text = fc.string({ unit: "binary", maxLength: 40 }).filter(isWellFormed);

/** No lone surrogate (`encodeURIComponent` throws on one); `String.prototype.isWellFormed` is not in the compiler's library. */
function isWellFormed(s: string): boolean {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}
const number = fc.oneof(fc.integer({ min: 0, max: 600_000 }), fc.double({ min: 0, max: 1e6, noNaN: true }));
const fields: fc.Arbitrary<RequestLineFields> = fc.record(
  {
    event: fc.constant("request" as const),
    method: text,
    path: text,
    status: fc.integer({ min: 0, max: 599 }),
    ms: number,
    upstream_ms: fc.option(number, { nil: undefined }),
    route: text,
    client: text,
    user_id: fc.option(text, { nil: undefined }),
    request_id: text,
  },
  { noNullPrototype: true },
);
const bindings = fc.oneof(
  fc.constant({}),
  fc.record({ worker: fc.integer({ min: 1, max: 64 }) }, { noNullPrototype: true }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(text, fc.integer()), { maxKeys: 3, noNullPrototype: true }),
);

t.test("a request line is the line pino writes for the same fields, byte for byte", async (t) => {
  await fc.assert(
    fc.asyncProperty(fields, bindings, async (request, bound) => {
      const ours = capture();
      const pinos = capture();
      const write = requestLineWriter(createLogger("info", ours.stream).child(bound), 0);
      if (!write) throw new Error("info is enabled: a writer was expected");
      write(request);
      createLogger("info", pinos.stream).child(bound).child({}, { redact: [] }).info(request, "request");
      await new Promise((resolve) => setImmediate(resolve));
      t.equal(ours.lines.length, 1);
      t.equal(sameTime(ours.lines[0] ?? ""), sameTime(pinos.lines[0] ?? ""));
    }),
    { numRuns: 300 },
  );
});

t.test("a lone surrogate (text pino would mangle) still makes a line of valid JSON with the value intact", async (t) => {
  const { lines, stream } = capture();
  const userId = "@a\ud800:example.org";
  requestLineWriter(
    createLogger("info", stream),
    0,
  )?.({
    event: "request",
    method: "GET",
    path: "/_matrix/client/v3/sync",
    status: 200,
    ms: 0.4,
    upstream_ms: 0.3,
    route: "authenticated",
    client: "192.0.2.1",
    user_id: userId,
    request_id: "r1",
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.match(JSON.parse(lines[0] ?? "{}"), { level: "info", user_id: userId, upstream_ms: 0.3, msg: "request" });
});

t.test("no writer when the level leaves out info: nothing is formatted", async (t) => {
  t.equal(requestLineWriter(createLogger("warn", capture().stream), 0), undefined);
  t.equal(requestLineWriter(createLogger("error", capture().stream), 2048), undefined);
  t.type(requestLineWriter(createLogger("debug", capture().stream), 0), "function");
});
