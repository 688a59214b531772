/**
 * `secureRandom` hands out bytes from a pool filled 4 KiB at a time: every draw has the size asked for,
 * no two draws overlap, and writing into a draw changes no other (each is a copy).
 */
import t from "tap";
import { secureRandom } from "../src/clock.js";

t.test("sizes, across pool refills and above the pool size", async (t) => {
  for (const size of [0, 1, 12, 16, 32, 4095, 4096, 4097, 65536]) t.equal(secureRandom(size).length, size, `${size} bytes`);
});

t.test("draws never repeat and never alias one another", async (t) => {
  const seen = new Set<string>();
  const draws: Buffer[] = [];
  // 2,000 draws of 16 bytes cross the 4 KiB pool boundary several times.
  for (let i = 0; i < 2000; i++) {
    const bytes = secureRandom(16);
    draws.push(bytes);
    seen.add(bytes.toString("hex"));
  }
  t.equal(seen.size, 2000, "2,000 distinct 128-bit draws");
  const first = draws[0] as Buffer;
  const before = (draws[1] as Buffer).toString("hex");
  first.fill(0);
  t.equal((draws[1] as Buffer).toString("hex"), before, "writing into one draw changes no other");
  t.equal(secureRandom(16).equals(Buffer.alloc(16)), false, "nor the draws after it");
});

t.test("a draw keeps its bytes after the pool is refilled", async (t) => {
  const kept = secureRandom(32);
  const copy = Buffer.from(kept);
  for (let i = 0; i < 300; i++) secureRandom(32); // 9,600 bytes: at least two refills
  t.ok(kept.equals(copy));
});
