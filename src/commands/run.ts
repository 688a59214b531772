/**
 * `matrix-auth-gateway [run] --config FILE [--check]`: serve until SIGTERM/SIGINT; SIGHUP reloads.
 * The gateway's modules are imported only once the configuration is valid and `--check` is not given.
 */

import cluster from "node:cluster";
import { ConfigError, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { type Command, configOption, logWarnings, printWarnings, readConfig } from "./shared.js";

export const runCommand: Command = {
  name: "run",
  summary: "run the gateway (the default command)",
  usage: "matrix-auth-gateway [run] [--config FILE] [--check]",
  options: { ...configOption, check: { type: "boolean", description: "validate the configuration and exit" } },
  async main(values, io) {
    const file = (values.config as string | undefined) ?? "config/gateway.yaml";
    const check = values.check === true;
    const config = readConfig(file, io, { createMissingSecret: !check });
    if (!config) return 2;
    if (check) {
      printWarnings(file, config, io);
      io.out(`${file}: configuration is valid\n`);
      return 0;
    }

    const [{ createGateway }, { createLogger }, { runPrimary, workerCount }] = await Promise.all([
      import("../gateway.js"),
      import("../observability/log.js"),
      import("./workers.js"),
    ]);
    const baseLogger = createLogger(config.log.level);
    // Once per start, not once per worker: the primary (or the only process) says it.
    if (cluster.isPrimary) logWarnings(baseLogger, config);
    const workers = workerCount(config);
    if (workers > 1 && cluster.isPrimary) return runPrimary(file, config, workers, baseLogger);
    const logger = cluster.isWorker ? baseLogger.child({ worker: cluster.worker?.id }) : baseLogger;
    const gateway = createGateway(config, { logger });
    let address: Awaited<ReturnType<typeof gateway.listen>>;
    try {
      address = await gateway.listen();
    } catch (error) {
      await gateway.close();
      const message = listenFailure(error, config);
      if (!message) throw error;
      io.err(`${file}: ${message}\n`);
      // A worker's IPC channel to the primary would keep it alive: let it exit, as after a stop.
      if (cluster.isWorker) cluster.worker?.disconnect();
      return 1;
    }
    logger.info({ address: address.address, port: address.port, upstream: config.upstream.url, store: config.store.type }, "listening");

    const reload = () => {
      let next: ReturnType<typeof loadConfig>;
      try {
        next = loadConfig(file, { createMissingSecret: true });
      } catch (error) {
        const problems = error instanceof ConfigError ? error.message.split("\n") : [String(error)];
        logger.error({ event: "reload_refused", problems }, "configuration reload refused: the running configuration is kept");
        return;
      }
      logWarnings(logger, next);
      const needRestart = gateway.reload(next);
      logger.info({ event: "reload", restart_needed_for: needRestart.length ? needRestart : undefined }, "configuration reloaded");
    };
    process.on("SIGHUP", reload);

    // A second SIGTERM (systemd signals a worker, then the primary does too) must not cut the drain short.
    let stopping = false;
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "shutting down");
        gateway.close().then(resolve, (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          resolve();
        });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
    process.off("SIGHUP", reload);
    logger.info("stopped");
    // A worker's IPC channel to the primary would keep it alive forever (and the primary waiting for it).
    if (cluster.isWorker) cluster.worker?.disconnect();
    return 0;
  },
};

/** What keeps a listener from opening, in the configuration's terms; undefined for anything else. */
export function listenFailure(error: unknown, config: Config): string | undefined {
  const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
  const reasons: Record<string, string> = {
    EADDRINUSE: "the address is already in use (is another gateway running?)",
    EACCES: "permission denied (ports below 1024 need privileges)",
    EADDRNOTAVAIL: "this machine has no such address",
  };
  const reason = code && reasons[code];
  if (!reason) return undefined;
  const metrics = config.metrics.listen;
  const key = metrics && port === metrics.port && address === metrics.host ? "metrics.listen" : "listen";
  return `${key}: cannot listen on ${address ?? "?"}:${port ?? "?"}: ${reason}`;
}
