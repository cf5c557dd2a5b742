/**
 * bench/config: parse + validate a generated 50-service `.mill` file, median
 * of many runs (goal < 5 ms), and mill against npm:hcl2-parser on the same
 * text. hcl2-parser reads standard HCL only (it rejects the `.mill` dialect's
 * `;`-joined attributes), so the comparison uses the standard-HCL rendering
 * of the 50 services, a text both parsers accept: `ratio_to_hcl2_parser` is
 * mill's parse + validate on that text over hcl2-parser's parse + conversion
 * to a JavaScript object on that same text; `ratio_parse_only_to_hcl2_parser`
 * is mill's syntax pass alone over the same hcl2-parser figure. The compact
 * `.mill` rendering keeps its own figure (`median_ms`, the goal). Last line:
 * one JSON object with the figures.
 *
 * Run: scripts/deno run -A bench/config.ts [--runs 500] [--anchor-runs 40]
 */

import { parseConfig } from "../config/mod.ts";
import { parseSyntax } from "../config/parser.ts";
import { parseStandardHcl } from "./_hcl2_parser.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(Deno.args[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} needs a whole number above 0`);
  }
  return value;
}

const SERVICES = 50;
const WARMUP_RUNS = 50;
const RUNS = arg("runs", 500);
/** hcl2-parser is GopherJS and takes hundreds of ms a run: fewer runs. */
const ANCHOR_RUNS = arg("anchor-runs", 40);
const ANCHOR_WARMUP_RUNS = 5;

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

/** A ratio to three significant digits (they can be far below 0.001). */
function ratio(a: number, b: number): number {
  return Number((a / b).toPrecision(3));
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
const standardCheck = parseConfig(standard, "bench.hcl");
if (!standardCheck.ok) {
  throw new Error(
    `the standard-HCL rendering is invalid: ${
      standardCheck.diagnostics[0]?.message
    }`,
  );
}
if (Object.keys(standardCheck.config.services).length !== SERVICES) {
  throw new Error("services missing from the standard-HCL rendering");
}
if (parseSyntax(standard).problems.length !== 0) {
  throw new Error("the standard-HCL rendering has syntax problems");
}
// The anchor must read the same 50 services, not fail fast or drop some.
const anchorServices = anchorServiceCount(parseStandardHcl(standard));
if (anchorServices !== SERVICES) {
  throw new Error(
    `hcl2-parser read ${anchorServices} services of ${SERVICES}`,
  );
}

/** The services in hcl2-parser's object (`{service: {name: [body]}}`). */
function anchorServiceCount(value: unknown): number {
  const root = Array.isArray(value) ? value[0] : value;
  const services = (root as { service?: Record<string, unknown> } | null)
    ?.service;
  return services === undefined ? 0 : Object.keys(services).length;
}

time(WARMUP_RUNS, () => parseConfig(mill, "bench.mill"));
const samples = time(RUNS, () => parseConfig(mill, "bench.mill"));
time(WARMUP_RUNS, () => parseConfig(standard, "bench.hcl"));
const standardSamples = time(RUNS, () => parseConfig(standard, "bench.hcl"));
time(WARMUP_RUNS, () => parseSyntax(standard));
const syntaxSamples = time(RUNS, () => parseSyntax(standard));
time(ANCHOR_WARMUP_RUNS, () => parseStandardHcl(standard));
const anchorSamples = time(ANCHOR_RUNS, () => parseStandardHcl(standard));

const medianMs = median(samples);
const standardMs = median(standardSamples);
const syntaxMs = median(syntaxSamples);
const anchorMs = median(anchorSamples);
const p90 =
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.9)] ?? NaN;
console.log(
  `compact .mill file: ${SERVICES} services, ${mill.length} characters; ` +
    `standard-HCL rendering: ${standard.length} characters`,
);
console.log(
  `parseConfig (parse + validate) on the .mill file, ${RUNS} runs: median ${
    round(medianMs)
  } ms, p90 ${round(p90)} ms`,
);
console.log(
  `on the standard-HCL text: parseConfig median ${
    round(standardMs)
  } ms, syntax pass alone ${round(syntaxMs)} ms`,
);
console.log(
  `hcl2-parser (parse + object) on the same standard-HCL text, ${ANCHOR_RUNS} runs: median ${
    round(anchorMs)
  } ms`,
);
console.log(JSON.stringify({
  bench: "config",
  services: SERVICES,
  runs: RUNS,
  anchor_runs: ANCHOR_RUNS,
  mill_chars: mill.length,
  standard_hcl_chars: standard.length,
  median_ms: round(medianMs),
  p90_ms: round(p90),
  goal_ms: 5,
  under_goal: medianMs < 5,
  standard_hcl_median_ms: round(standardMs),
  standard_hcl_syntax_median_ms: round(syntaxMs),
  hcl2_parser_median_ms: round(anchorMs),
  ratio_to_hcl2_parser: ratio(standardMs, anchorMs),
  ratio_parse_only_to_hcl2_parser: ratio(syntaxMs, anchorMs),
}));
