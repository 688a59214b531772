#!/usr/bin/env node
/**
 * `matrix-auth-gateway --config FILE [--check]`: load the config (every problem printed as
 * `FILE:LINE:COL: dotted.path: message`, exit 2), then listen until SIGTERM/SIGINT.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load.js";
import { createGateway } from "./gateway.js";
import { createLogger } from "./observability/log.js";

const USAGE = `Usage: matrix-auth-gateway [--config FILE] [--check]

  -c, --config FILE   configuration file (default: config/gateway.yaml)
      --check         validate the configuration and exit
  -h, --help          show this help
`;

async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = args.values.config ?? "config/gateway.yaml";
  const check = args.values.check ?? false;

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(file, { createMissingSecret: !check });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (check) {
    process.stdout.write(`${file}: configuration is valid\n`);
    return 0;
  }

  const logger = createLogger(config.log.level);
  const gateway = createGateway(config, { logger });
  const address = await gateway.listen();
  logger.info({ address: address.address, port: address.port, upstream: config.upstream.url, store: config.store.type }, "listening");

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "shutting down");
      gateway.close().then(resolve, (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  logger.info("stopped");
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      check: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`matrix-auth-gateway: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
