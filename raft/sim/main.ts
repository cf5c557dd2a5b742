/**
 * `deno task sim -- --seeds N --start S [--steps K]`: run N simulation seeds
 * from S and print one JSON line `{"seeds","steps","violations","elapsed_s"}`.
 * A violation prints its seed, a shortened trace and exits 1.
 */
import { Command } from "commander";
import { runSeeds, SIM_STEPS_DEFAULT } from "./seeds.ts";

function parseCount(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) {
    throw new Error(`Expected a non-negative integer, got "${value}"`);
  }
  return parsed;
}

if (import.meta.main) {
  const program = new Command()
    .name("sim")
    .description("Deterministic Raft simulation")
    .option("--seeds <n>", "seeds to run", parseCount, 100)
    .option("--start <s>", "first seed", parseCount, 1)
    .option("--steps <k>", "steps per seed", parseCount, SIM_STEPS_DEFAULT)
    .parse(["deno", "sim", ...Deno.args]);
  const options = program.opts<
    { seeds: number; start: number; steps: number }
  >();
  const summary = runSeeds({
    ...options,
    report: (line) => console.error(line),
  });
  console.log(JSON.stringify({
    seeds: summary.seeds,
    steps: summary.steps,
    violations: summary.violations,
    elapsed_s: summary.elapsedS,
  }));
  Deno.exit(summary.violations > 0 ? 1 : 0);
}
