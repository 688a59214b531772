/**
 * parseDuration / parseSize: the units the config file accepts (contract "Configuration keys that are
 * fixed": 500ms, 30s, 5m, 12h, 30d, or a number of seconds). Anything else is `undefined`, which the
 * schema turns into a problem.
 */
import t from "tap";
import { parseDuration, parseSize } from "../../src/config/duration.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

t.test("parseDuration", async (t) => {
  const cases: [unknown, number | undefined][] = [
    ["500ms", 500],
    ["0ms", 0],
    ["30s", 30 * SECOND],
    ["0s", 0],
    ["5m", 5 * MINUTE],
    ["12h", 12 * HOUR],
    ["30d", 30 * DAY],
    ["90d", 90 * DAY],
    ["1.5s", 1_500],
    ["1.5h", 90 * MINUTE],
    [" 30s ", 30 * SECOND], // surrounding blanks are trimmed
    // A bare number is seconds (YAML `timeout: 30` is a number).
    [30, 30 * SECOND],
    [0, 0],
    [0.5, 500],
    // The text of a bare number (what `${ENV}` yields) is seconds too.
    ["30", 30 * SECOND],
    ["0.5", 500],
    // Not durations.
    ["", undefined],
    ["30 s", undefined],
    ["30S", undefined],
    ["30sec", undefined],
    ["5 minutes", undefined],
    ["1w", undefined],
    ["-5s", undefined],
    [".5s", undefined],
    ["s", undefined],
    [-1, undefined],
    [Number.NaN, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    [true, undefined],
    [null, undefined],
    [undefined, undefined],
    [{}, undefined],
    [["30s"], undefined],
  ];
  for (const [input, expected] of cases) {
    t.equal(parseDuration(input), expected, `parseDuration(${JSON.stringify(input) ?? String(input)})`);
  }
});

t.test("parseSize", async (t) => {
  const cases: [unknown, number | undefined][] = [
    ["512B", 512],
    ["0B", 0],
    ["64KiB", 64 * 1024],
    ["64 KiB", 64 * 1024],
    ["10MiB", 10 * 1024 ** 2],
    ["1GiB", 1024 ** 3],
    ["1024", 1024], // a bare string number is bytes
    [1024, 1024],
    [0, 0],
    // Not sizes.
    ["64KB", undefined],
    ["64kib", undefined],
    ["1.5KiB", undefined],
    ["-1", undefined],
    ["", undefined],
    ["KiB", undefined],
    [-1, undefined],
    [1.5, undefined],
    [Number.NaN, undefined],
    [false, undefined],
    [null, undefined],
    [{}, undefined],
  ];
  for (const [input, expected] of cases) {
    t.equal(parseSize(input), expected, `parseSize(${JSON.stringify(input) ?? String(input)})`);
  }
});
