/**
 * CPU pinning for the HTTP benchmark: every server under test runs alone on CPU 0; the load generator, the
 * upstream and this process share the other CPUs. Without it, the scheduler moves the proxy, the upstream and
 * the load generator across the cores as load shifts, and a proxy's CPU time per request then depends on whom
 * it happened to share a core with: the same server measured 100–130 µs from one round to the next.
 *
 * On by default where it can work (Linux `taskset`, at least 2 CPUs); `BENCH_PIN=0` turns it off. `BENCH_PIN=main`
 * pins only a server's main thread: its other threads (SQLite's WAL checkpointer, V8's GC helpers, libuv's pool)
 * stay on the other CPUs, as they would find free cores on a bigger machine.
 * Children inherit this process's CPU set when they are started, so the rest stay off CPU 0 by themselves.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";

const SERVER_CPU = 0;

function tasksetWorks() {
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Moves this process (and so everything it starts afterwards) off CPU 0. Returns how the CPUs are shared, for
 * the report: `{pinned: false, why}` when pinning is off or impossible.
 */
export function setUpPinning() {
  // os.cpus(), not availableParallelism(): the latter shrinks to the CPUs this process is pinned to.
  const cpus = os.cpus().length;
  if (process.env.BENCH_PIN === "0") return { pinned: false, why: "turned off (BENCH_PIN=0)" };
  if (cpus < 2) return { pinned: false, why: "one CPU only" };
  if (!tasksetWorks()) return { pinned: false, why: "`taskset` is not available" };
  const rest = cpus === 2 ? "1" : `1-${cpus - 1}`;
  execFileSync("taskset", ["-a", "-p", "-c", rest, String(process.pid)], { stdio: "ignore" });
  return { pinned: true, serverCpu: SERVER_CPU, restCpus: rest, mainOnly: process.env.BENCH_PIN === "main" };
}

/** Gives this process every CPU back (for what runs after the HTTP benchmark). */
export function releasePinning(pinning) {
  if (!pinning?.pinned) return;
  execFileSync("taskset", ["-a", "-p", "-c", `0-${os.cpus().length - 1}`, String(process.pid)], { stdio: "ignore" });
}

/** Puts every thread of a server under test (its main thread only with `BENCH_PIN=main`) on CPU 0 (no-op when pinning is off). */
export function pinServer(pinning, pid) {
  if (!pinning?.pinned) return;
  const threads = pinning.mainOnly ? [] : ["-a"];
  execFileSync("taskset", [...threads, "-p", "-c", String(SERVER_CPU), String(pid)], { stdio: "ignore" });
}

/** One line for the report. */
export function describePinning(pinning) {
  if (!pinning.pinned) return `CPU pinning: none (${pinning.why}); the servers, the load generator and the upstream share every CPU.`;
  const which = pinning.mainOnly
    ? "the main thread of each server under test (BENCH_PIN=main: its other threads with the rest)"
    : "each server under test";
  return `CPU pinning: ${which} alone on CPU ${pinning.serverCpu}; the load generator, the upstream and the bench process on CPU ${pinning.restCpus} (BENCH_PIN=0 turns it off).`;
}
