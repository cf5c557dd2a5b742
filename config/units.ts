/**
 * Sizes and durations as `.mill` files write them: `"512M"`, `"1.5Gi"`,
 * `"5s"`, `"1m30s"`. Sizes follow Kubernetes: `K M G T` are powers of 1000,
 * `Ki Mi Gi Ti` powers of 1024.
 */

/** A parse that failed carries a reason to show after the field name. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string; readonly unit?: string };

const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  K: 1e3,
  k: 1e3,
  KB: 1e3,
  kB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  T: 1e12,
  TB: 1e12,
  Ki: 2 ** 10,
  KiB: 2 ** 10,
  Mi: 2 ** 20,
  MiB: 2 ** 20,
  Gi: 2 ** 30,
  GiB: 2 ** 30,
  Ti: 2 ** 40,
  TiB: 2 ** 40,
};

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Bytes in a size such as `"512M"` (512·10⁶) or `"1.5Gi"` (1.5·2³⁰).
 *
 * @example
 * parseSize("2G"); // { ok: true, value: 2000000000 }
 */
export function parseSize(text: string): Parsed<number> {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (match === null) {
    return {
      ok: false,
      reason: 'is not a size; write a number and a unit like "512M" or "1.5Gi"',
    };
  }
  const amount = Number(match[1]);
  const unit = match[2] ?? "";
  if (unit === "") {
    return {
      ok: false,
      reason: `has no unit; write "${match[1]}M" (10^6 bytes), "${
        match[1]
      }Mi" (2^20 bytes) or another unit`,
    };
  }
  const multiplier = SIZE_UNITS[unit];
  if (multiplier === undefined) {
    return { ok: false, reason: unknownSizeUnit(unit), unit };
  }
  const bytes = Math.round(amount * multiplier);
  if (!Number.isSafeInteger(bytes)) {
    return { ok: false, reason: "is too large" };
  }
  if (bytes <= 0) return { ok: false, reason: "must be more than zero" };
  return { ok: true, value: bytes };
}

function unknownSizeUnit(unit: string): string {
  const upper = unit[0]?.toUpperCase() ?? "";
  const known = "KMGT".includes(upper) && upper !== "";
  const hint = known
    ? `use "${upper}" (10^${
      3 * ("KMGT".indexOf(upper) + 1)
    } bytes) or "${upper}i" (2^${10 * ("KMGT".indexOf(upper) + 1)} bytes)`
    : "use B, K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024)";
  return `has an unknown unit "${unit}"; ${hint}`;
}

/**
 * Milliseconds in a duration such as `"5s"`, `"250ms"`, `"1m30s"`, `"1.5h"`.
 *
 * @example
 * parseDuration("1m30s"); // { ok: true, value: 90000 }
 */
export function parseDuration(text: string): Parsed<number> {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    return {
      ok: false,
      reason: `has no unit; write "${trimmed}s" for seconds or use ms, m or h`,
    };
  }
  const part = /(\d+(?:\.\d+)?)([A-Za-z]+)/y;
  let total = 0;
  let at = 0;
  while (at < trimmed.length) {
    part.lastIndex = at;
    const match = part.exec(trimmed);
    if (match === null) {
      return {
        ok: false,
        reason:
          'is not a duration; write a number and a unit like "5s" or "1m30s"',
      };
    }
    const unit = match[2] ?? "";
    const multiplier = DURATION_UNITS[unit];
    if (multiplier === undefined) {
      return {
        ok: false,
        reason: `has an unknown unit "${unit}"; use ms, s, m or h`,
        unit,
      };
    }
    total += Number(match[1]) * multiplier;
    at = part.lastIndex;
  }
  if (at === 0) {
    return { ok: false, reason: 'is empty; write a duration like "5s"' };
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) return { ok: false, reason: "is too long" };
  return { ok: true, value: ms };
}

/**
 * The largest unit that shows `bytes` exactly with at most three decimals,
 * binary first: `2147483648` → `"2Gi"`, `4831838208` → `"4.5Gi"`,
 * `512000000` → `"512M"`; otherwise one decimal of the largest binary unit.
 */
export function formatSize(bytes: number): string {
  const units: readonly [string, number][] = [
    ["Ti", 2 ** 40],
    ["T", 1e12],
    ["Gi", 2 ** 30],
    ["G", 1e9],
    ["Mi", 2 ** 20],
    ["M", 1e6],
    ["Ki", 2 ** 10],
    ["K", 1e3],
  ];
  for (const [unit, size] of units) {
    const milli = Math.round((bytes * 1000) / size);
    if (bytes >= size && milli * size === bytes * 1000) {
      return `${milli / 1000}${unit}`;
    }
  }
  for (const [unit, size] of units) {
    if (unit.endsWith("i") && bytes >= size) {
      return `${(bytes / size).toFixed(1)}${unit}`;
    }
  }
  return `${bytes}B`;
}

/** `90000` → `"1m30s"`, `250` → `"250ms"`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let text = "";
  for (
    const [unit, size] of [["h", 3_600_000], ["m", 60_000], [
      "s",
      1000,
    ]] as const
  ) {
    const whole = Math.floor(rest / size);
    if (whole > 0) text += `${whole}${unit}`;
    rest -= whole * size;
  }
  if (rest > 0) text += `${rest}ms`;
  return text;
}
