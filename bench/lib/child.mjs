/**
 * The child side of `children.mjs`: read the options, answer IPC calls, tell the parent the port.
 */

/** The options the parent passed as JSON in argv[2]. */
export function childOptions() {
  return JSON.parse(process.argv[2] ?? "{}");
}

/** Tells the parent the server listens on `port`. */
export function announce(port) {
  process.send?.({ type: "ready", port });
}

/** Answers the parent's `call(message)`: `handlers[message.cmd](message)` resolves to the reply's fields. */
export function answerCalls(handlers) {
  process.on("message", async (message) => {
    const handler = handlers[message?.cmd];
    if (!handler) {
      process.send?.({ id: message?.id, error: `unknown command ${message?.cmd}` });
      return;
    }
    try {
      process.send?.({ id: message.id, ...(await handler(message)) });
    } catch (error) {
      process.send?.({ id: message.id, error: error?.stack ?? String(error) });
    }
  });
}

/** Runs `close()` on SIGTERM/SIGINT, then exits 0 (a `--cpu-prof` child writes its profile on that exit). */
export function exitOnSignal(close) {
  const stop = async () => {
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  // The parent is gone (killed, crashed): do not outlive it.
  process.once("disconnect", stop);
}

/**
 * IPC handlers that profile this process over exactly the measured window (node:inspector), so that startup,
 * seeding and warm-up stay out of the profile that `--cpu-prof` would take from the first instruction.
 * `profileStart` begins sampling (every 200 µs); `profileStop({file})` writes the `.cpuprofile` there.
 */
export function profilingCalls() {
  let session;
  return {
    async profileStart() {
      const { Session } = await import("node:inspector/promises");
      session = new Session();
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 200 });
      await session.post("Profiler.start");
      return {};
    },
    async profileStop({ file }) {
      const { writeFileSync } = await import("node:fs");
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      return {};
    },
  };
}
