/**
 * `deno task sim -- --seeds N --start S [--steps K]`: run N simulation seeds
 * from S and print one JSON line `{"seeds","steps","violations","unknown",
 * "elapsed_s"}` (`unknown`: seeds whose linearizability search hit its bound).
 * A violation prints its seed and a shortened trace (stderr) and exits 1;
 * bad arguments exit 2.
 */
import { parseArgs } from "node:util";
import type { Broken } from "./run.ts";
import { runSeeds, SIM_STEPS_DEFAULT } from "./seeds.ts";

const USAGE =
  "Usage: deno task sim -- [--seeds N] [--start S] [--steps K] [--stats] [--broken stale-reads|forget-votes|ack-before-fsync|cut-corruption]";

/** Deliberately broken variants, to watch the checkers fail from the command line. */
const BROKEN_VARIANTS: Readonly<Record<string, Broken>> = {
  "stale-reads": { staleReads: true },
  "forget-votes": { forgetVotes: true },
  "ack-before-fsync": { ackBeforeFsync: true },
  "cut-corruption": { cutCorruption: true },
};

export interface SimArgs {
  readonly seeds: number;
  readonly start: number;
  readonly steps: number;
  readonly broken: Broken | null;
  /** Print what the runs exercised (event counts) to stderr. */
  readonly stats: boolean;
}

/** Parse the command line; returns an error message instead of throwing. */
export function parseSimArgs(
  args: readonly string[],
): SimArgs | { error: string } {
  // `deno task sim -- …` passes the `--` through.
  const rest = args[0] === "--" ? args.slice(1) : [...args];
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        seeds: { type: "string", default: "100" },
        start: { type: "string", default: "1" },
        steps: { type: "string", default: String(SIM_STEPS_DEFAULT) },
        broken: { type: "string" },
        stats: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { error: `${(err as Error).message}\n${USAGE}` };
  }
  const parsed: Record<string, number> = {};
  for (const name of ["seeds", "start", "steps"] as const) {
    const raw = values[name];
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
      return {
        error:
          `Invalid --${name} "${raw}": expected a non-negative integer\n${USAGE}`,
      };
    }
    parsed[name] = value;
  }
  let broken: Broken | null = null;
  if (values.broken !== undefined) {
    broken = BROKEN_VARIANTS[values.broken] ?? null;
    if (broken === null) {
      return { error: `Unknown --broken "${values.broken}"\n${USAGE}` };
    }
  }
  return {
    seeds: parsed.seeds!,
    start: parsed.start!,
    steps: parsed.steps!,
    broken,
    stats: values.stats ?? false,
  };
}

if (import.meta.main) {
  const options = parseSimArgs(Deno.args);
  if ("error" in options) {
    console.error(options.error);
    Deno.exit(2);
  }
  const summary = runSeeds({
    ...options,
    report: (line) => console.error(line),
  });
  if (options.stats) {
    for (const [event, count] of Object.entries(summary.counts).sort()) {
      console.error(`${event.padEnd(28)} ${count}`);
    }
  }
  console.log(JSON.stringify({
    seeds: summary.seeds,
    steps: summary.steps,
    violations: summary.violations,
    unknown: summary.unknown,
    elapsed_s: summary.elapsedS,
  }));
  Deno.exit(summary.violations > 0 ? 1 : 0);
}
