/**
 * JSON log lines (pino). No token, password or upstream credential is ever written: known fields are
 * redacted, and URLs are scrubbed of `access_token` before they are logged.
 */
import pino, { type Logger } from "pino";
import { decodeQueryComponent } from "../http/query.js";

export type { Logger };

/** How long a buffered log line may wait for others before it is written anyway. */
export const LOG_FLUSH_MS = 250;

/**
 * `bufferBytes` (`log.buffer`) applies to standard output, the default destination: lines gather until there
 * are that many bytes or `LOG_FLUSH_MS` passed, then go out in one write. Whatever is buffered is written
 * synchronously when the process exits (pino registers that), so only a kill -9 or a crash of Node itself
 * can lose the last quarter second.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, bufferBytes = 0): Logger {
  return pino(
    {
      level,
      base: undefined,
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
    destination ?? pino.destination({ dest: 1, sync: false, minLength: bufferBytes, periodicFlush: bufferBytes > 0 ? LOG_FLUSH_MS : 0 }),
  );
}

/**
 * The URL as it may be logged: the value of every query parameter whose *decoded* name is
 * `access_token` is replaced (the gateway reads `%61ccess_token` as the token too, so it must be hidden too).
 */
export function scrubUrl(url: string): string {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return url;
  const params = url.slice(queryStart + 1).split("&");
  let scrubbed = false;
  for (let i = 0; i < params.length; i++) {
    const param = params[i] as string;
    const eq = param.indexOf("=");
    if (eq !== -1 && decodeQueryComponent(param.slice(0, eq)) === "access_token") {
      params[i] = `${param.slice(0, eq)}=[redacted]`;
      scrubbed = true;
    }
  }
  return scrubbed ? `${url.slice(0, queryStart)}?${params.join("&")}` : url;
}
