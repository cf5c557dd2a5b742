import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import { parseSimArgs } from "./main.ts";
import { SIM_STEPS_DEFAULT } from "./seeds.ts";

Deno.test("parseSimArgs() reads the sim task's arguments", async (t) => {
  const cases: { args: string[]; want: unknown }[] = [
    {
      args: [],
      want: {
        seeds: 100,
        start: 1,
        steps: SIM_STEPS_DEFAULT,
        broken: null,
        stats: false,
      },
    },
    {
      args: ["--", "--seeds", "5", "--start", "90"],
      want: {
        seeds: 5,
        start: 90,
        steps: SIM_STEPS_DEFAULT,
        broken: null,
        stats: false,
      },
    },
    {
      args: [
        "--seeds=2",
        "--steps",
        "10",
        "--broken",
        "stale-reads",
        "--stats",
      ],
      want: {
        seeds: 2,
        start: 1,
        steps: 10,
        broken: { staleReads: true },
        stats: true,
      },
    },
  ];

  for (const { args, want } of cases) {
    await t.step(
      args.join(" ") || "(none)",
      () => assertEquals(parseSimArgs(args), want),
    );
  }
});

const BAD_ARGS = [
  ["--seeds", "x"],
  ["--seeds", "-1"],
  ["--start", "1.5"],
  ["--bogus"],
  ["extra"],
  ["--broken", "nope"],
];

Deno.test("parseSimArgs() rejects bad arguments with a usage line", async (t) => {
  for (const args of BAD_ARGS) {
    await t.step(args.join(" "), () => {
      const result = parseSimArgs(args);
      assert(
        "error" in result && result.error.includes("Usage:"),
        JSON.stringify(result),
      );
    });
  }
});

async function runSim(args: string[]) {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    lines: decoder.decode(output.stdout).trim().split("\n"),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("the sim task prints one JSON line and exits 0 on a clean run", async () => {
  const { code, lines } = await runSim([
    "--seeds",
    "2",
    "--start",
    "3",
    "--steps",
    "500",
  ]);
  assertEquals(code, 0);
  assertEquals(lines.length, 1);
  const summary = JSON.parse(lines[0]!);
  assertEquals(Object.keys(summary), [
    "seeds",
    "steps",
    "violations",
    "unknown",
    "elapsed_s",
  ]);
  assertEquals([summary.seeds, summary.violations], [2, 0]);
});

Deno.test("the sim task reports a violation with its seed and trace, and exits 1", async () => {
  const { code, lines, stderr } = await runSim([
    "--seeds",
    "3",
    "--steps",
    "10000",
    "--broken",
    "stale-reads",
  ]);
  assertEquals(code, 1);
  assert(JSON.parse(lines.at(-1)!).violations > 0);
  assert(/reproduce with MILL_SEED=\d+/.test(stderr), stderr);
  assert(stderr.includes("last steps:"), stderr);
});

Deno.test("the sim task exits 2 on bad arguments", async () => {
  const { code, stderr } = await runSim(["--seeds", "many"]);
  assertEquals(code, 2);
  assert(stderr.includes("Usage:"), stderr);
});
