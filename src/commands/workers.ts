/**
 * `workers: N | auto`: the primary process forks N workers (node:cluster) that share the listening
 * socket. The primary serves nothing itself: it keeps the workers' shared rate-limit counters (unless
 * they are in Redis), passes SIGHUP on (each worker reloads its own configuration), replaces a worker
 * that dies, and on SIGTERM/SIGINT lets every worker drain, then exits 0.
 */
import cluster, { type Worker } from "node:cluster";
import os from "node:os";
import { RateLimiterClusterMaster } from "rate-limiter-flexible";
import { ConfigError, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../observability/log.js";

/** A worker that dies is replaced after this pause (no tight crash loop). */
const RESTART_DELAY_MS = 1000;

export function workerCount(config: Config): number {
  return config.workers === "auto" ? os.availableParallelism() : config.workers;
}

export async function runPrimary(file: string, config: Config, count: number, logger: Logger): Promise<number> {
  if (config.store.type !== "redis") new RateLimiterClusterMaster();
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < count; i++) fork();
  logger.info({ workers: count }, "started workers");

  cluster.on("exit", (worker: Worker, code, signal) => {
    if (stopping) return;
    logger.error({ worker: worker.id, code, signal }, "worker died: starting another");
    setTimeout(fork, RESTART_DELAY_MS).unref();
  });

  const reload = () => {
    try {
      loadConfig(file, { createMissingSecret: true });
    } catch (error) {
      const problems = error instanceof ConfigError ? error.message.split("\n") : [String(error)];
      logger.error({ event: "reload_refused", problems }, "configuration reload refused: the running configuration is kept");
      return;
    }
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGHUP");
  };
  process.on("SIGHUP", reload);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "shutting down workers");
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (alive.length === 0) resolve();
      let left = alive.length;
      for (const worker of alive) {
        worker.once("exit", () => {
          if (--left === 0) resolve();
        });
        worker.process.kill(signal);
      }
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
  process.off("SIGHUP", reload);
  logger.info("stopped");
  return 0;
}
