/** Run many seeds and report the first violations in a reproducible form. */
import { type Broken, type RunResult, runSeed } from "./run.ts";

/** Steps per seed: sized so 2,000 seeds fit CI's budget on one core. */
export const SIM_STEPS_DEFAULT = 20_000;
/**
 * The share of checked seeds whose linearizability search may hit its step
 * bound ("unknown": such a seed proves nothing about linearizability) before
 * the CI test fails: past it the bound or the histories need resizing.
 */
export const LINEARIZABILITY_UNKNOWN_SHARE_MAX = 0.01;
/** Violations reported in full before the rest are only counted. */
const REPORTED_VIOLATIONS_MAX = 3;

export interface SeedsSummary {
  readonly seeds: number;
  readonly steps: number;
  readonly violations: number;
  /** Seeds whose linearizability check hit its step bound. */
  readonly unknown: number;
  /** `unknown` over the seeds whose history was checked (0 when none was). */
  readonly unknownShare: number;
  readonly elapsedS: number;
  readonly failed: readonly RunResult[];
  /** Events summed over all seeds (coverage), plus each seed's linearizability outcome. */
  readonly counts: Readonly<Record<string, number>>;
}

export function runSeeds(
  options: {
    seeds: number;
    start: number;
    steps: number;
    report: (line: string) => void;
    broken?: Broken | null;
    linearizabilityStepsMax?: number;
  },
): SeedsSummary {
  const started = performance.now();
  let steps = 0;
  const failed: RunResult[] = [];
  const counts: Record<string, number> = {};
  for (let seed = options.start; seed < options.start + options.seeds; seed++) {
    const result = runSeed(seed, {
      steps: options.steps,
      ...(options.broken ? { broken: options.broken } : {}),
      ...(options.linearizabilityStepsMax === undefined
        ? {}
        : { linearizabilityStepsMax: options.linearizabilityStepsMax }),
    });
    steps += result.steps;
    for (const [event, count] of Object.entries(result.counts)) {
      counts[event] = (counts[event] ?? 0) + count;
    }
    const linearizability = `linearizability-${result.linearizability}`;
    counts[linearizability] = (counts[linearizability] ?? 0) + 1;
    if (result.violation) {
      failed.push(result);
      if (failed.length <= REPORTED_VIOLATIONS_MAX) {
        options.report(formatViolation(result));
      }
    }
  }
  const elapsedS = Math.round((performance.now() - started) / 10) / 100;
  const unknown = counts["linearizability-unknown"] ?? 0;
  const checked = options.seeds - (counts["linearizability-unchecked"] ?? 0);
  return {
    seeds: options.seeds,
    steps,
    violations: failed.length,
    unknown,
    unknownShare: checked === 0 ? 0 : unknown / checked,
    elapsedS,
    failed,
    counts,
  };
}

export function formatViolation(result: RunResult): string {
  const violation = result.violation!;
  return [
    `violation ${violation.code} in seed ${result.seed}: ${violation.message}`,
    `reproduce with MILL_SEED=${result.seed} (or: deno task sim -- --seeds 1 --start ${result.seed})`,
    "last steps:",
    ...violation.trace.map((line) => `  ${line}`),
  ].join("\n");
}
