/**
 * The list of exchanges in flight behind the coarse deadline timer (proxy/deadlines.ts), on its own:
 * - whatever order exchanges are tracked and released in, and whatever a handler releases while the sweep runs,
 *   each exchange still tracked when its deadline passes is answered exactly once, and a released one never;
 * - a released exchange is not kept alive by the list through young-generation collections (a `Set` here kept
 *   whole requests alive into the old generation: 3–8 MB promoted per scavenge under load).
 */
import v8 from "node:v8";
import vm from "node:vm";
import fc from "fast-check";
import t from "tap";
import { createDeadlines, type TrackedExchange } from "../../src/proxy/deadlines.js";

interface Exchange extends TrackedExchange {
  id: number;
  /** Exchanges this one's handler releases when its deadline passes (as answering can end other requests). */
  releasesOnFire: Exchange[];
}

const newExchange = (id: number, timeoutMs: number): Exchange => ({
  id,
  releasesOnFire: [],
  proxyReq: undefined,
  timeoutMs,
  socketDeadline: 0,
  lastBytes: -1,
  lastProgressAt: 0,
  slot: -1,
});

/** Waits until `done()` or `limitMs` passed: sweeps run on a real timer, late on a busy machine. */
async function waitFor(done: () => boolean, limitMs: number): Promise<void> {
  const started = performance.now();
  while (!done() && performance.now() - started < limitMs) await new Promise((resolve) => setTimeout(resolve, 20));
}

t.test("each exchange still tracked is answered once, a released one never, in any order", async (t) => {
  // An operation: track exchange i, or release the i-th tracked one. Some handlers release other exchanges.
  const op = fc.oneof(fc.record({ track: fc.constant(true) }), fc.record({ release: fc.nat(40) }));
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.array(fc.tuple(fc.nat(60), fc.nat(60)), { maxLength: 10 }), async (ops, links) => {
      const events: string[] = [];
      const released = new Set<number>();
      // The exchanges answered by the first sweep: the handlers of one sweep run in one turn of the event loop.
      let firstSweep: Set<number> | undefined;
      let firstSweepOver = false;
      const deadlines = createDeadlines<Exchange>({
        onSocketWaitExpired: (e) => events.push(`wait ${e.id}`),
        onSilent(e) {
          events.push(`fire ${e.id}`);
          if (!firstSweep) {
            firstSweep = new Set();
            queueMicrotask(() => {
              firstSweepOver = true;
            });
          }
          if (!firstSweepOver) firstSweep.add(e.id);
          for (const other of e.releasesOnFire) {
            if (!released.has(other.id)) events.push(`release ${other.id}`);
            released.add(other.id);
            deadlines.release(other);
          }
        },
      });
      const all: Exchange[] = [];
      const now = performance.now();
      for (const o of ops) {
        if ("track" in o) {
          const exchange = newExchange(all.length, 0);
          all.push(exchange);
          deadlines.track(exchange, now);
        } else if (all.length > 0) {
          const exchange = all[o.release % all.length] as Exchange;
          released.add(exchange.id);
          deadlines.release(exchange);
        }
      }
      for (const [from, to] of links) {
        if (all.length > 0) (all[from % all.length] as Exchange).releasesOnFire.push(all[to % all.length] as Exchange);
      }
      const settled = () => all.every((e) => released.has(e.id) || events.includes(`fire ${e.id}`));
      await waitFor(settled, 5_000);
      deadlines.close();
      // Every exchange is either answered once or released before it was answered; none is answered after its release.
      for (const e of all) {
        const fired = events.filter((x) => x === `fire ${e.id}`).length;
        const releasedAt = events.indexOf(`release ${e.id}`);
        const firedAt = events.indexOf(`fire ${e.id}`);
        t.ok(fired <= 1, `exchange ${e.id} answered at most once`);
        // Every deadline had passed before the first sweep: it answers each exchange that is not released, skipping none.
        if (!released.has(e.id)) t.ok(firstSweep?.has(e.id), `exchange ${e.id} answered by the first sweep`);
        if (fired === 1 && releasedAt !== -1) t.ok(firedAt < releasedAt, `exchange ${e.id} was not answered after its release`);
      }
    }),
    { numRuns: 30 },
  );
});

t.test("an exchange tracked twice is in the list once: one release ends it", async (t) => {
  const answered: number[] = [];
  const deadlines = createDeadlines<Exchange>({ onSocketWaitExpired() {}, onSilent: (e) => answered.push(e.id) });
  const twice = newExchange(1, 0);
  const other = newExchange(2, 0);
  deadlines.track(twice, performance.now());
  deadlines.track(other, performance.now());
  deadlines.track(twice, performance.now());
  deadlines.release(twice);
  await waitFor(() => answered.length > 0, 5_000);
  await new Promise((resolve) => setTimeout(resolve, 300)); // one more sweep: nothing else comes
  deadlines.close();
  t.same(answered, [2], "only the exchange still tracked was answered");
  t.equal(twice.slot, -1, "the released exchange holds no slot");
});

t.test("a released exchange is not kept alive through young-generation collections", async (t) => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as (options?: { type: "major" | "minor" }) => void;
  const deadlines = createDeadlines<Exchange>({ onSocketWaitExpired() {}, onSilent() {} });
  // The list outlives many requests: it lives in the old generation, as in a gateway under load.
  deadlines.track(newExchange(-1, 60_000), performance.now());
  gc({ type: "major" });
  gc({ type: "major" });
  const oldSpace = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "old_space")?.space_used_size ?? 0;
  const before = oldSpace();
  // 20,000 requests, 32 in flight at a time, each holding ~8 KB (a request, its response, their buffers).
  const inFlight: Exchange[] = [];
  for (let i = 0; i < 20_000; i++) {
    const exchange = Object.assign(newExchange(i, 60_000), { payload: new Array(1000).fill(i) });
    deadlines.track(exchange, performance.now());
    inFlight.push(exchange);
    if (inFlight.length > 32) deadlines.release(inFlight.shift() as Exchange);
    if (i % 200 === 0) gc({ type: "minor" });
  }
  const promoted = oldSpace() - before;
  deadlines.close();
  // Survivors are the 32 in flight (~260 KB) at each collection; a Set's abandoned tables promoted ~4 MB here.
  t.ok(promoted < 1_500_000, `old generation grew by ${Math.round(promoted / 1024)} KB (under 1.5 MB)`);
});
