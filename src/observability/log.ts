/**
 * JSON log lines (pino). No token, password or upstream credential is ever written: known fields are
 * redacted, and URLs are scrubbed of `access_token` before they are logged.
 */
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
    destination,
  );
}

const QUERY_TOKEN = /([?&](?:access_token|access%5[Ff]token)=)[^&#]*/g;

/** The URL as it may be logged. */
export function scrubUrl(url: string): string {
  return url.includes("access") ? url.replace(QUERY_TOKEN, "$1[redacted]") : url;
}
