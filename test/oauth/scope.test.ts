/** The Matrix scope parser (src/oauth/scope.ts): examples, then properties over generated scopes. */
import fc from "fast-check";
import t from "tap";
import { parseScope } from "../../src/oauth/scope.js";

const STABLE = "urn:matrix:client:";
const UNSTABLE = "urn:matrix:org.matrix.msc2967.client:";
const DEVICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";

t.test("what matrix-js-sdk 37 asks for", async (t) => {
  t.same(parseScope(`openid ${UNSTABLE}api:* ${UNSTABLE}device:ABCDEFGHIJ`), {
    deviceId: "ABCDEFGHIJ",
    openid: true,
    normalized: `openid ${UNSTABLE}api:* ${UNSTABLE}device:ABCDEFGHIJ`,
  });
});

t.test("the stable prefix, without openid, extra spaces dropped, duplicates once", async (t) => {
  t.same(parseScope(`  ${STABLE}device:a.b~c-d_e  ${STABLE}api:* ${STABLE}api:*`), {
    deviceId: "a.b~c-d_e",
    openid: false,
    normalized: `${STABLE}device:a.b~c-d_e ${STABLE}api:*`,
  });
});

t.test("mixed prefixes naming one device", async (t) => {
  t.equal(parseScope(`${STABLE}api:* ${UNSTABLE}device:D1 ${STABLE}device:D1`)?.deviceId, "D1");
});

t.test("refused", async (t) => {
  const refused = [
    undefined,
    "",
    "openid",
    `${STABLE}api:*`, // no device
    `${STABLE}device:D1`, // no api
    `${STABLE}api:* ${STABLE}device:D1 ${STABLE}device:D2`, // two devices
    `${STABLE}api:* ${STABLE}device:D1 ${UNSTABLE}device:D2`, // two devices, mixed prefixes
    `${STABLE}api:* ${STABLE}device:`, // empty id
    `${STABLE}api:* ${STABLE}device:a/b`, // bad character
    `${STABLE}api:* ${STABLE}device:é`,
    `${STABLE}api:* ${STABLE}device:D1 profile`, // unknown scope
    `${STABLE}api:read ${STABLE}device:D1`,
    `urn:matrix:other:api:* urn:matrix:other:device:D1`,
    `${STABLE}API:* ${STABLE}device:D1`, // case-sensitive
    `${STABLE}api:*\t${STABLE}device:D1`, // only spaces delimit
  ];
  for (const scope of refused) t.equal(parseScope(scope), undefined, JSON.stringify(scope));
});

const prefix = fc.constantFrom(STABLE, UNSTABLE);
const deviceId = fc.string({ unit: fc.constantFrom(...DEVICE_CHARS), minLength: 1, maxLength: 24 });
const badDeviceId = fc.string({ minLength: 1, maxLength: 12 }).filter((id) => !/^[A-Za-z0-9._~-]+$/.test(id) && !id.includes(" "));
const api = prefix.map((p) => `${p}api:*`);
const device = (id: fc.Arbitrary<string>) => fc.tuple(prefix, id).map(([p, d]) => `${p}device:${d}`);
const spaces = fc.integer({ min: 1, max: 3 }).map((n) => " ".repeat(n));

/** Joins the tokens in a shuffled order, with runs of spaces. */
function scopeOf(tokens: fc.Arbitrary<string[]>): fc.Arbitrary<{ scope: string; tokens: string[] }> {
  return tokens
    .chain((list) =>
      fc.tuple(
        fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
        fc.array(spaces, { minLength: list.length, maxLength: list.length }),
      ),
    )
    .map(([list, gaps]) => ({ scope: list.map((token, i) => `${gaps[i]}${token}`).join(""), tokens: list }));
}

t.test("property: api, one device (any prefix, repeated), optional openid → granted", async (t) => {
  const valid = fc.tuple(
    fc.array(api, { minLength: 1, maxLength: 3 }),
    deviceId,
    fc.array(prefix, { minLength: 1, maxLength: 3 }),
    fc.boolean(),
  );
  fc.assert(
    fc.property(
      valid.chain(([apis, id, devicePrefixes, openid]) =>
        scopeOf(fc.constant([...apis, ...devicePrefixes.map((p) => `${p}device:${id}`), ...(openid ? ["openid"] : [])])).map((s) => ({
          ...s,
          id,
          openid,
        })),
      ),
      ({ scope, tokens, id, openid }) => {
        const parsed = parseScope(scope);
        if (!parsed) return false;
        const granted = parsed.normalized.split(" ");
        return (
          parsed.deviceId === id &&
          parsed.openid === openid &&
          new Set(granted).size === granted.length &&
          granted.length === new Set(tokens).size &&
          granted.every((token) => tokens.includes(token))
        );
      },
    ),
  );
  t.pass("held");
});

t.test("property: no device, two devices, a bad id, no api or a foreign token → refused", async (t) => {
  const broken = fc.oneof(
    fc.tuple(fc.array(api, { minLength: 1, maxLength: 2 }), fc.boolean()).map(([apis, openid]) => [...apis, ...(openid ? ["openid"] : [])]),
    fc
      .tuple(api, deviceId, deviceId, prefix, prefix)
      .filter(([, a, b]) => a !== b)
      .map(([a, d1, d2, p1, p2]) => [a, `${p1}device:${d1}`, `${p2}device:${d2}`]),
    fc.tuple(api, device(badDeviceId)).map((tokens) => [...tokens]),
    fc.tuple(device(deviceId), fc.boolean()).map(([d, openid]) => [d, ...(openid ? ["openid"] : [])]),
    fc
      .tuple(
        api,
        device(deviceId),
        fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes(" ")),
      )
      .filter(([, , extra]) => extra !== "openid" && !extra.startsWith(STABLE) && !extra.startsWith(UNSTABLE))
      .map((tokens) => [...tokens]),
  );
  fc.assert(fc.property(scopeOf(broken), ({ scope }) => parseScope(scope) === undefined));
  t.pass("held");
});
