import { deepStrictEqual } from "node:assert/strict";
import { formatDuration, formatSize, parseDuration, parseSize } from "./mod.ts";

const SIZES: readonly [string, number | string][] = [
  ["512M", 512_000_000],
  ["2G", 2_000_000_000],
  ["1.5Gi", 1_610_612_736],
  ["50Gi", 53_687_091_200],
  ["64Ki", 65_536],
  ["1T", 1e12],
  ["100B", 100],
  ["256MiB", 268_435_456],
  ["1k", 1000],
  [
    "512m",
    'has an unknown unit "m"; use "M" (10^6 bytes) or "Mi" (2^20 bytes)',
  ],
  [
    "1Qi",
    'has an unknown unit "Qi"; use B, K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024)',
  ],
  [
    "512",
    'has no unit; write "512M" (10^6 bytes), "512Mi" (2^20 bytes) or another unit',
  ],
  ["0M", "must be more than zero"],
  ["-1M", 'is not a size; write a number and a unit like "512M" or "1.5Gi"'],
  ["", 'is not a size; write a number and a unit like "512M" or "1.5Gi"'],
  ["99999999999T", "is too large"],
];

Deno.test("parseSize() reads decimal and binary units and explains failures", async (t) => {
  for (const [text, expected] of SIZES) {
    await t.step(`"${text}"`, () => {
      const parsed = parseSize(text);
      deepStrictEqual(parsed.ok ? parsed.value : parsed.reason, expected);
    });
  }
});

const DURATIONS: readonly [string, number | string][] = [
  ["5s", 5000],
  ["250ms", 250],
  ["1m30s", 90_000],
  ["1.5h", 5_400_000],
  ["0s", 0],
  ["5", 'has no unit; write "5s" for seconds or use ms, m or h'],
  ["5sec", 'has an unknown unit "sec"; use ms, s, m or h'],
  ["5 s", 'is not a duration; write a number and a unit like "5s" or "1m30s"'],
  ["", 'is empty; write a duration like "5s"'],
  ["-5s", 'is not a duration; write a number and a unit like "5s" or "1m30s"'],
];

Deno.test("parseDuration() reads ms, s, m and h, compounded, and explains failures", async (t) => {
  for (const [text, expected] of DURATIONS) {
    await t.step(`"${text}"`, () => {
      const parsed = parseDuration(text);
      deepStrictEqual(parsed.ok ? parsed.value : parsed.reason, expected);
    });
  }
});

Deno.test("formatSize() and formatDuration() print what the parsers read back", () => {
  for (
    const bytes of [
      1000,
      512_000_000,
      1_610_612_736,
      2 ** 30,
      53_687_091_200,
      7,
    ]
  ) {
    const text = formatSize(bytes);
    const back = parseSize(text);
    deepStrictEqual(back.ok && back.value, bytes, text);
  }
  for (const ms of [0, 1, 999, 1000, 90_000, 3_600_000, 5_400_250]) {
    const text = formatDuration(ms);
    const back = parseDuration(text);
    deepStrictEqual(back.ok && back.value, ms, text);
  }
});
