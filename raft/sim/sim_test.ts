import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import {
  formatViolation,
  LINEARIZABILITY_UNKNOWN_SHARE_MAX,
  runSeeds,
  type SeedsSummary,
  SIM_STEPS_DEFAULT,
} from "./seeds.ts";
import { runSeed } from "./run.ts";

/** CI's floor: at least this many seeds per `scripts/test` run. */
const CI_SEEDS_DEFAULT = 2_000;

/**
 * Violations that show a lost acknowledged write or a wrong answer, as
 * opposed to a crash of the core or a liveness failure, which a broken
 * variant could cause without the safety checkers seeing anything.
 */
const SAFETY_CODES = new Set([
  "leader_completeness",
  "state_machine_safety",
  "log_matching",
  "linearizability",
]);

/** Fails when too many seeds' linearizability search hit its bound; returns the line to print. */
function checkUnknownShare(summary: SeedsSummary): string {
  const line =
    `linearizability unknown (search bound hit) in ${summary.unknown} of ${summary.seeds} seeds (${
      (summary.unknownShare * 100).toFixed(2)
    }%, at most ${LINEARIZABILITY_UNKNOWN_SHARE_MAX * 100}%)`;
  if (summary.unknownShare > LINEARIZABILITY_UNKNOWN_SHARE_MAX) {
    throw new Error(
      `${line}: those seeds prove nothing about linearizability`,
    );
  }
  return line;
}

function envNumber(name: string): number | null {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return null;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

Deno.test("the simulation finds no violation over the CI seeds (MILL_SEED, MILL_SIM_SEEDS, MILL_SIM_STEPS)", () => {
  const seed = envNumber("MILL_SEED");
  const seeds = envNumber("MILL_SIM_SEEDS") ??
    (seed === null ? CI_SEEDS_DEFAULT : 1);
  const steps = envNumber("MILL_SIM_STEPS") ?? SIM_STEPS_DEFAULT;
  const reports: string[] = [];
  const summary = runSeeds({
    seeds,
    start: seed ?? 1,
    steps,
    report: (line) => reports.push(line),
  });
  if (summary.violations > 0) {
    throw new Error(
      `${summary.violations} of ${seeds} seeds violated safety:\n${
        reports.join("\n\n")
      }`,
    );
  }
  assertEquals(summary.seeds, seeds);
  console.log(checkUnknownShare(summary));
});

Deno.test("the unknown-share bound fails when the linearizability search gives up", () => {
  const summary = runSeeds({
    seeds: 3,
    start: 1,
    steps: 3_000,
    report: () => {},
    linearizabilityStepsMax: 1,
  });
  assertEquals(summary.violations, 0);
  assertEquals(summary.unknown, 3);
  let refused: string | null = null;
  try {
    checkUnknownShare(summary);
  } catch (err) {
    refused = (err as Error).message;
  }
  assert(refused?.includes("unknown") === true, `not refused: ${refused}`);
});

Deno.test("a seed replays identically", () => {
  const first = runSeed(42, { steps: 3_000 });
  const second = runSeed(42, { steps: 3_000 });
  assertEquals(second, first);
  assert(first.completedOps > 0, "clients completed operations");
});

Deno.test("the linearizability check catches reads served without ReadIndex", () => {
  const caught = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) =>
    runSeed(seed, { steps: 10_000, broken: { staleReads: true } })
  )
    .filter((result) => result.violation?.code === "linearizability");
  assert(
    caught.length >= 4,
    `only ${caught.length} of 8 seeds caught stale reads`,
  );
  const report = formatViolation(caught[0]!);
  assert(
    report.includes(`reproduce with MILL_SEED=${caught[0]!.seed}`),
    report,
  );
});

Deno.test("the election-safety check catches votes that are not made durable", () => {
  let caught = 0;
  for (let seed = 1; seed <= 400 && caught === 0; seed++) {
    const result = runSeed(seed, {
      steps: 10_000,
      broken: { forgetVotes: true },
    });
    if (result.violation?.code === "election_safety") caught++;
  }
  assert(caught > 0, "no seed in 400 caught a double vote");
});

Deno.test("the safety checks catch writes acknowledged before their fsync", () => {
  // Only a safety violation counts: a crash of the core or a liveness
  // failure would not show that a lost acknowledged write is seen.
  let caught: string | null = null;
  const other: string[] = [];
  for (let seed = 1; seed <= 400 && caught === null; seed++) {
    const result = runSeed(seed, {
      steps: 20_000,
      broken: { ackBeforeFsync: true },
    });
    const code = result.violation?.code ?? null;
    if (code !== null && SAFETY_CODES.has(code)) caught = code;
    else if (code !== null) other.push(`${code} (seed ${seed})`);
  }
  assert(
    caught !== null,
    `no seed in 400 caught a lost acknowledged write; other failures: ${
      other.join(", ") || "none"
    }`,
  );
});

Deno.test("the safety checks catch a corrupt WAL cut at the bad record instead of refused", () => {
  // A flipped bit taken for a torn tail loses acknowledged entries on one
  // member; the Raft checkers must see the consequence (the disk's own
  // durability check is off for a corrupted disk in this variant).
  let caught: string | null = null;
  const other: string[] = [];
  for (let seed = 1; seed <= 600 && caught === null; seed++) {
    const result = runSeed(seed, {
      steps: 20_000,
      broken: { cutCorruption: true },
    });
    const code = result.violation?.code ?? null;
    if (code !== null && SAFETY_CODES.has(code)) caught = code;
    else if (code !== null) other.push(`${code} (seed ${seed})`);
  }
  assert(
    caught !== null,
    `no seed in 600 caught a corrupt WAL cut silently; other failures: ${
      other.join(", ") || "none"
    }`,
  );
});

Deno.test("the simulation exercises every fault and feature it claims to", () => {
  const seen = new Map<string, number>();
  for (let seed = 1; seed <= 40; seed++) {
    const result = runSeed(seed, { steps: 20_000 });
    assertEquals(result.violation, null);
    for (const [event, count] of Object.entries(result.counts)) {
      seen.set(event, (seen.get(event) ?? 0) + count);
    }
  }
  const expected = [
    "leader-elected",
    "command-committed",
    "membership-committed",
    "add-learner-proposed",
    "promote-proposed",
    "remove-proposed",
    "transfer-started",
    "snapshot-taken",
    "snapshot-installed",
    "crash",
    "crash-after-fsync",
    "crash-torn",
    "crash-wal-cut-mid-write",
    "crash-hard-state-without-wal",
    "torn-tail-cut",
    "wal-corrupted",
    "restart-refused",
    "restart",
    "partition",
    "put-answered",
    "get-answered",
    "cas-answered",
  ];
  for (const event of expected) {
    assert((seen.get(event) ?? 0) > 0, `no "${event}" in 40 seeds`);
  }
});
