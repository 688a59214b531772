/** The pages' seals (src/oauth/seal.ts): purpose, expiry, tampering, and the key when the store has none. */
import t from "tap";
import { ManualClock } from "../../src/clock.js";
import { createSealer } from "../../src/oauth/seal.js";

const KEY = Buffer.alloc(32, 7);

t.test("opens what it sealed, for the same purpose, until it expires", async (t) => {
  const clock = new ManualClock();
  const sealer = createSealer(KEY, clock);
  const sealed = await sealer.seal("authorize", { a: "b" }, 60_000);
  t.match(sealed, /^eyJ[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "compact JWE, dir: no encrypted key");
  t.match(await sealer.open("authorize", sealed), { a: "b" });
  t.equal(await sealer.open("grant", sealed), undefined, "another purpose");
  t.equal(await sealer.open("authorize", `${sealed}x`), undefined, "altered");
  t.equal(await sealer.open("authorize", undefined), undefined);
  t.equal(await createSealer(Buffer.alloc(32, 8), clock).open("authorize", sealed), undefined, "another key");
  t.match(await createSealer(KEY, clock).open("authorize", sealed), { a: "b" }, "the same key in another instance");
  clock.advance(61_000);
  t.equal(await sealer.open("authorize", sealed), undefined, "expired");
});

t.test("without key material (memory store, jwt.keys): a random key of this process, never the zeros", async (t) => {
  const clock = new ManualClock();
  const zeros = createSealer(Buffer.alloc(32), clock);
  const sealed = await zeros.seal("grant", { x: 1 }, 60_000);
  t.match(await createSealer(Buffer.alloc(32), clock).open("grant", sealed), { x: 1 }, "shared within the process");
  const { CompactEncrypt } = await import("jose");
  const crypto = await import("node:crypto");
  const zeroKey = new Uint8Array(
    crypto.hkdfSync("sha256", Buffer.alloc(32), Buffer.alloc(0), "matrix-auth-gateway oauth browser pages", 32),
  );
  const forged = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ x: 2, exp: 2_000_000_000 })))
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", typ: "grant" })
    .encrypt(zeroKey);
  t.equal(await zeros.open("grant", forged), undefined, "a seal made with the all-zero key is refused");
});
