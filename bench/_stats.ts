/** Small figures helpers shared by bench/raft's modules. */

/** The value at quantile `p` (0..1) of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** `n` rounded to `digits` decimals. */
export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A whole-number `--name value` argument above 0, or `fallback`. */
export function intArg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(Deno.args[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(
      `--${name} needs a whole number above 0, got "${Deno.args[i + 1]}"`,
    );
  }
  return value;
}
