/** What every benchmark command shares about its run: settings from the environment, and the machine. */
import os from "node:os";

/** `process.env[name]` as a positive number, `fallback` when unset; anything else stops the run. */
export function positiveNumber(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

/**
 * `loadAtStart`: the 1-minute load average when the run began. Other work on the machine shows there: the
 * load generator, the proxy and the upstream already share its cores.
 */
export function machineInfo(loadAtStart) {
  return {
    // The machine's CPUs: availableParallelism() counts only those this process may use, one when pinned.
    nproc: os.cpus().length,
    cpus: os.cpus()[0]?.model ?? "unknown CPU",
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
  };
}
