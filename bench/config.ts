/**
 * bench/config: parse + validate a generated 50-service `.mill` file, median
 * of many runs (goal < 5 ms). For context, npm:hcl2-parser (HCL only, no
 * validation) on a standard-HCL rendering of the same services, in the same
 * run. Last line: one JSON object with the figures.
 *
 * Run: scripts/deno run -A bench/config.ts
 */

import { parseConfig } from "../config/mod.ts";
import { parseStandardHcl } from "./_hcl2_parser.ts";

const SERVICES = 50;
const WARMUP_RUNS = 50;
const RUNS = 500;
const ANCHOR_RUNS = 40;

/** One service; `compact` writes it the way the seeds do. */
function service(i: number, compact: boolean): string[] {
  const persistent = i % 10 === 0;
  const replicas = persistent ? 1 : 1 + (i % 3);
  const sep = compact ? "; " : "\n  ";
  const lines = [
    `service "svc-${i}" {`,
    `  image = "registry.example.com/team-${i % 7}/svc-${i}:v${i % 5}.${i}"`,
    `  port = ${3000 + i}${sep}replicas = ${replicas}${sep}cpu = 0.${
      1 + (i % 9)
    }${sep}memory = "${128 * (1 + (i % 4))}Mi"`,
    compact
      ? `  health { path = "/health"; interval = "${5 + (i % 10)}s" }`
      : `  health {\n    path = "/health"\n    interval = "${
        5 + (i % 10)
      }s"\n  }`,
    `  env {`,
    `    LOG_LEVEL = "info"`,
    `    REGION = "eu-${i % 3}"`,
    `    DATABASE_URL = "postgres://\${secret(db-${i}.user)}@db-${i}.mill/app"`,
    `  }`,
    `  labels = { team = "team-${i % 7}", tier = "${
      i % 2 === 0 ? "front" : "back"
    }" }`,
  ];
  if (i % 2 === 0) {
    lines.push(
      compact
        ? `  route "app-${i}.example.com" { path = "/" }`
        : `  route "app-${i}.example.com" {\n    path = "/"\n  }`,
    );
  }
  if (persistent) {
    lines.push(
      `  volume "data-${i}" {`,
      `    path = "/data"`,
      `    size = "${10 + i}Gi"`,
      `  }`,
    );
  }
  lines.push("}", "");
  return lines;
}

function generate(compact: boolean): string {
  const lines: string[] = [];
  for (let i = 0; i < SERVICES; i++) lines.push(...service(i, compact));
  return lines.join("\n");
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function time(runs: number, work: () => void): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    work();
    samples.push(performance.now() - start);
  }
  return samples;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

const mill = generate(true);
const standard = generate(false);
const check = parseConfig(mill, "bench.mill");
if (!check.ok) {
  throw new Error(
    `the generated file is invalid: ${check.diagnostics[0]?.message}`,
  );
}
if (Object.keys(check.config.services).length !== SERVICES) {
  throw new Error("services missing");
}
if (parseConfig(standard, "bench.hcl").ok !== true) {
  throw new Error("standard form invalid");
}

time(WARMUP_RUNS, () => parseConfig(mill, "bench.mill"));
const samples = time(RUNS, () => parseConfig(mill, "bench.mill"));
const standardSamples = time(RUNS, () => parseConfig(standard, "bench.hcl"));
parseStandardHcl(standard);
const anchorSamples = time(ANCHOR_RUNS, () => parseStandardHcl(standard));

const medianMs = median(samples);
const anchorMs = median(anchorSamples);
const p90 =
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.9)] ?? NaN;
console.log(
  `file: ${SERVICES} services, ${mill.length} characters (.mill dialect)`,
);
console.log(
  `parseConfig (parse + validate), ${RUNS} runs: median ${
    round(medianMs)
  } ms, p90 ${round(p90)} ms`,
);
console.log(
  `parseConfig on the standard-HCL rendering: median ${
    round(median(standardSamples))
  } ms`,
);
console.log(
  `hcl2-parser (parse only) on the standard-HCL rendering, ${ANCHOR_RUNS} runs: median ${
    round(anchorMs)
  } ms`,
);
console.log(JSON.stringify({
  bench: "config",
  services: SERVICES,
  runs: RUNS,
  median_ms: round(medianMs),
  p90_ms: round(p90),
  goal_ms: 5,
  under_goal: medianMs < 5,
  standard_hcl_median_ms: round(median(standardSamples)),
  hcl2_parser_median_ms: round(anchorMs),
  ratio_to_hcl2_parser: round(medianMs / anchorMs),
}));
