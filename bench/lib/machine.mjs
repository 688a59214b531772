/** What a results file says about the machine it was measured on. */
import os from "node:os";

/**
 * `loadAtStart`: the 1-minute load average when the run began. Other work on the machine shows there: the
 * load generator, the proxy and the upstream already share its cores.
 */
export function machineInfo(loadAtStart) {
  return {
    nproc: os.availableParallelism(),
    cpus: os.cpus()[0]?.model ?? "unknown CPU",
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
  };
}
