/**
 * JSON log lines (pino). No token, password or upstream credential is ever written: known fields are
 * redacted, and URLs are scrubbed of `access_token` before they are logged.
 */
import pino, { type Logger } from "pino";
import { maskParams } from "../http/query.js";

export type { Logger };

/** How long a buffered request line may wait for others before it is written anyway. */
export const LOG_FLUSH_MS = 250;

/**
 * `"level":"info"` rather than pino's `"level":30`: what an operator greps for and what log collectors
 * (Loki, Elasticsearch, journald's JSON) read as a severity without a mapping table.
 */
const LEVEL_NAMES: pino.LoggerOptions["formatters"] = { level: (label) => ({ level: label }) };

/** Set on loggers that write to standard output (and so inherited by their children). */
const WRITES_TO_STDOUT = Symbol("writesToStdout");

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: undefined,
      formatters: LEVEL_NAMES,
      redact: {
        paths: [
          "password",
          "*.password",
          "access_token",
          "*.access_token",
          "refresh_token",
          "*.refresh_token",
          "upstreamToken",
          "*.upstreamToken",
          "req.headers.authorization",
          "headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
  if (!destination) (logger as unknown as Record<symbol, boolean>)[WRITES_TO_STDOUT] = true;
  return logger;
}

/**
 * Hands each line to sonic-boom as a Buffer of its own: in its default (string) mode sonic-boom measures the
 * whole growing batch (`Buffer.byteLength`, flattening the concatenated string) on every line; in buffer mode it
 * adds the line's length and joins the batch once per write.
 */
class LinesAsBuffers implements pino.DestinationStream {
  readonly #boom: BufferSink;
  constructor(boom: pino.DestinationStream) {
    this.#boom = boom as unknown as BufferSink;
  }
  write(line: string): void {
    this.#boom.write(Buffer.from(line, "utf8"));
  }
  /** Writes what is buffered now, synchronously. */
  flushSync(): void {
    this.#boom.flushSync();
  }
}

/** sonic-boom in `contentMode: "buffer"` (its types only describe the string mode). */
type BufferSink = { write(chunk: Buffer): boolean; flushSync(): void };

/** One batching writer on standard output for the whole process, made on first use. */
let batchedStdout: LinesAsBuffers | undefined;
/**
 * The most one batched write sends: whole lines, at most PIPE_BUF bytes, so that a write to a pipe is atomic
 * and the lines of several workers sharing one standard output never interleave.
 */
const MAX_BATCH_WRITE = 4096;

/** The fields of the line each request ends with, in the order they are written; `undefined` ones are left out. */
export interface RequestLineFields {
  event: "request";
  method: string;
  path: string;
  status: number;
  ms: number;
  upstream_ms: number | undefined;
  route: string;
  client: string;
  user_id: string | undefined;
  request_id: string;
}

/** Where a line goes: a pino destination (sonic-boom, or the stream a test passed). */
type LineSink = { write(line: string): unknown };

/**
 * The writer of the one line each request ends with, or `undefined` when `logger`'s level leaves out `info` (it
 * takes the level now: a reload sets the new level first, then builds a new router). The line is byte for byte
 * what `logger.info(fields, "request")` writes (test/observability/request-line.test.ts holds it to pino's own;
 * only a lone UTF-16 surrogate, which pino writes raw and so mangles, comes out escaped), made by one
 * `JSON.stringify` of the fields: the line has the same shape every time, and pino's general path (a loop over
 * the fields, each string escaped in JavaScript) made the line about 12% of a proxied request's CPU in context,
 * 5 points more than this (bench/README.md). The fields never hold a secret (the URL is scrubbed, no header is
 * logged), so nothing is redacted (pino's redaction pass cost ~8 µs a line).
 *
 * When `logger` writes to standard output and `bufferBytes` (`log.buffer`) is above 0, these lines gather in a
 * writer of their own until there are that many bytes or `LOG_FLUSH_MS` passed, then go out in one write; every
 * other line (startup, audit events, errors) is still written at once. What is buffered is written when the
 * process exits, so only a kill -9 or a crash of Node itself can lose the last quarter second.
 *
 * Each batch is one synchronous write: an asynchronous one is a thread-pool round trip per batch, and a request
 * line cost about twice as much with it (~7 against ~3.5 µs, measured); with no write ever in flight, the flush
 * at exit writes everything, in order (an asynchronous write still pending when the process exits, as one that
 * met a full pipe is, was lost or overtaken). The price: a standard output that does not keep up (a full pipe)
 * makes the gateway wait for it (sonic-boom retries every 100 ms) instead of buffering request lines without bound.
 */
export function requestLineWriter(logger: Logger, bufferBytes: number): ((fields: RequestLineFields) => void) | undefined {
  if (!logger.isLevelEnabled("info")) return undefined;
  const sink = lineSink(logger, bufferBytes);
  // pino writes the level, the time, then the logger's bindings, then the fields, then the message.
  const bindings = JSON.stringify(logger.bindings()).slice(1, -1);
  const afterTime = bindings === "" ? "," : `,${bindings},`;
  return (fields) => {
    const json = JSON.stringify(fields);
    sink.write(`{"level":"info","time":${Date.now()}${afterTime}${json.slice(1, -1)},"msg":"request"}\n`);
  };
}

function lineSink(logger: Logger, bufferBytes: number): LineSink {
  if (bufferBytes <= 0 || !(logger as unknown as Record<symbol, boolean>)[WRITES_TO_STDOUT]) {
    // The logger's own destination, where its other lines go (`pino.symbols` is pino's API for integrations).
    return (logger as unknown as Record<symbol, LineSink>)[pino.symbols.streamSym] as LineSink;
  }
  if (!batchedStdout) {
    const lines = new LinesAsBuffers(
      pino.destination({
        dest: 1,
        sync: true,
        minLength: bufferBytes,
        maxWrite: MAX_BATCH_WRITE,
        periodicFlush: LOG_FLUSH_MS,
        contentMode: "buffer",
      }),
    );
    // pino registers an exit flush only for its asynchronous destinations.
    process.once("exit", () => flushAtExit(lines));
    batchedStdout = lines;
  }
  return batchedStdout;
}

function flushAtExit(lines: LinesAsBuffers): void {
  try {
    lines.flushSync();
  } catch {
    // Standard output is gone (closed, a broken pipe): nothing left to write the lines to.
  }
}

/** Query parameters whose value is a secret: the gateway's own token, however its name is spelled. */
const SECRET_PARAMS: ReadonlySet<string> = new Set(["access_token"]);

/**
 * The URL as it may be logged: the value of every query parameter whose *decoded* name is `access_token`
 * is replaced, with the query split as the homeserver splits it (`&` and `;`): the gateway reads
 * `%61ccess_token` and `;access_token=` as the token too, so it must hide them too.
 */
export function scrubUrl(url: string): string {
  return maskParams(url, SECRET_PARAMS, "[redacted]");
}
