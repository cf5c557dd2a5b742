/**
 * A Jepsen-style test on three primaries: two clients per node write and
 * read secrets through that node's API while a seeded nemesis kills nodes
 * with kill -9, partitions them (majority/minority, bridge, one-way) and
 * heals, for a bounded time. Afterwards, healed and converged, the history
 * must be linearizable by the project's own checker
 * (raft/sim/linearizability.ts; the register model is in _history.ts),
 * every acknowledged write must be in the final state, and every node's
 * own state must hold the same secrets.
 *
 * `MILL_NEMESIS_SEED=N` replays a schedule (the faults and the clients'
 * choices; the interleaving is the machine's). A failure prints the seed,
 * the schedule, what was applied when, and the offending ops.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { SeededRng } from "../../raft/rng.ts";
import { type Bed, withBed } from "./bed.ts";
import {
  type ClientRecord,
  describeViolation,
  judgeHistory,
  type Verdict,
} from "./_history.ts";
import { type AppliedStep, runNemesis } from "./_nemesis.ts";
import { runClient } from "./_nemesis_clients.ts";
import { describePlan, planNemesis, type Step } from "./_nemesis_plan.ts";

/** Faults (holds and healed gaps) per run. */
const FAULT_BUDGET_MS = 40_000;
/** No fault starts later than this after the start, however slow the machine. */
const FAULT_WALL_MAX_MS = 60_000;
/** After the last fault, until every client had an acknowledged write. */
const RECOVERY_TIMEOUT_MS = 30_000;
const CONVERGE_TIMEOUT_MS = 40_000;
/**
 * Two per node: a client waiting out a write that hangs (a cut-off leader
 * holds it until curl's bound) leaves the other to read meanwhile, which is
 * when a deposed leader could serve a stale read.
 */
const CLIENTS_PER_NODE = 2;

function chooseSeed(): number {
  const given = Deno.env.get("MILL_NEMESIS_SEED");
  if (given === undefined || given === "") {
    return crypto.getRandomValues(new Uint32Array(1))[0]!;
  }
  const seed = Number(given);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new Error(
      `MILL_NEMESIS_SEED must be an integer from 0 to 4294967295, not ${given}`,
    );
  }
  return seed;
}

/** Each node's own secrets of the test, once they all agree. */
async function convergedSecrets(
  bed: Bed,
  prefix: string,
): Promise<Record<string, number>> {
  let last = "";
  return await bed.waitFor(async () => {
    const states = await Promise.all(bed.nodes.map((n) => bed.nodeState(n)));
    const views = states.map((s) =>
      Object.fromEntries(
        [...s.state.secrets.values()]
          .filter((x) => x.name.startsWith(`${prefix}-`))
          .map((x) => [x.name, x.updatedAtMs] as const)
          .sort(([a], [b]) => a < b ? -1 : 1),
      )
    );
    const texts = views.map((v) => JSON.stringify(v));
    last = bed.nodes.map((n, i) =>
      `${n.name} at index ${states[i]!.index}: ${
        Object.keys(views[i]!).length
      } secrets`
    ).join(", ");
    return texts.every((t) => t === texts[0]) ? views[0]! : null;
  }, {
    what: `every node's own state to hold the same secrets (last: ${last})`,
    timeoutMs: CONVERGE_TIMEOUT_MS,
    intervalMs: 500,
  });
}

function failureReport(
  seed: number,
  steps: readonly Step[],
  applied: readonly AppliedStep[],
  verdict: Verdict,
  originMs: number,
): string {
  const parts = [
    `nemesis seed ${seed}; reproduce with MILL_NEMESIS_SEED=${seed} scripts/deno test -A tests/cluster/nemesis_test.ts`,
    `schedule:\n${describePlan(steps)}`,
    `applied (ms after the start):\n${
      applied.map((a) =>
        `  ${a.step}. +${a.startedAt - originMs}…+${
          a.healedAt - originMs
        } ${a.what}`
      ).join("\n")
    }`,
    `ops: ${JSON.stringify(verdict.counts)}`,
  ];
  const lin = verdict.linearizability;
  if (lin.outcome === "violation") {
    parts.push(
      `not linearizable on ${lin.key}:\n${
        describeViolation(lin.ops, originMs)
      }`,
    );
  } else if (lin.outcome === "unknown") {
    parts.push(`the checker gave up on ${lin.key} (search bound): undecided`);
  }
  for (const u of verdict.unexplained) {
    parts.push(
      `a read via ${u.read.via} at +${
        u.read.invokedAt - originMs
      } ms saw ${u.key} as ${u.explained.value} (${u.explained.kind})`,
    );
  }
  for (const l of verdict.lost) {
    parts.push(
      `lost acknowledged write ${l.acknowledged}: the final state holds ${
        l.final ?? "nothing"
      }`,
    );
  }
  return parts.join("\n");
}

Deno.test("nemesis: clients on every node under kill -9, partitions and one-way cuts see a linearizable history, lose no acknowledged write, and the nodes converge", async () => {
  const seed = chooseSeed();
  const steps = planNemesis(seed, { nodes: 3, budgetMs: FAULT_BUDGET_MS });
  console.log(
    `nemesis seed ${seed} (MILL_NEMESIS_SEED=${seed} replays it):\n${
      describePlan(steps)
    }`,
  );
  await withBed({ nodes: 3, name: "nemesis" }, async (bed) => {
    try {
      await nemesisRun(bed, seed, steps);
    } catch (error) {
      throw new Error(
        `nemesis seed ${seed} (MILL_NEMESIS_SEED=${seed} replays it): ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  });
});

async function nemesisRun(
  bed: Bed,
  seed: number,
  steps: readonly Step[],
): Promise<void> {
  const prefix = `nem${seed.toString(36)}`;
  const records: ClientRecord[] = [];
  const originMs = Date.now();
  // To line the agents' logs up with the "+N ms" lines below.
  console.log(`start: ${new Date(originMs).toISOString()}`);
  let healedAt: number | null = null;
  const okAfterHeal = new Set<number>();
  const clientCount = bed.nodes.length * CLIENTS_PER_NODE;
  const notes: string[] = [];
  const clientErrors: unknown[] = [];
  const done = () => {
    if (healedAt === null) return false;
    for (const r of records) {
      if (
        r.kind === "write" && r.outcome === "ok" && r.invokedAt > healedAt
      ) {
        okAfterHeal.add(r.client);
      }
    }
    return okAfterHeal.size === clientCount ||
      Date.now() - healedAt > RECOVERY_TIMEOUT_MS;
  };
  // Client c talks to node c % nodes.
  const clients = Array.from({ length: clientCount }, (_, c) =>
    runClient({
      bed,
      node: bed.nodes[c % bed.nodes.length]!,
      client: c,
      rng: new SeededRng((seed ^ (0x9e37 * (c + 1))) >>> 0),
      prefix,
      records,
      notes,
      done,
    }).catch((error) => {
      // Kept for later: a rejection now would escape the test.
      clientErrors.push(error);
    }));
  let applied: AppliedStep[] = [];
  try {
    applied = await runNemesis(
      bed,
      steps,
      originMs,
      (line) => console.log(line),
      originMs + FAULT_WALL_MAX_MS,
    );
  } finally {
    healedAt = Date.now();
    await Promise.all(clients);
  }
  if (clientErrors.length > 0) throw clientErrors[0];
  console.log(
    `+${Date.now() - originMs} ms clients stopped; converging`,
  );
  for (const note of notes) console.log(`note: ${note}`);
  const final = await convergedSecrets(bed, prefix);
  const verdict = judgeHistory(records, final);
  let report = failureReport(seed, steps, applied, verdict, originMs);
  const passed = okAfterHeal.size === clientCount &&
    verdict.linearizability.outcome === "ok" &&
    verdict.unexplained.length === 0 && verdict.lost.length === 0;
  if (!passed) {
    // The whole history, for a closer look (the bed's dir goes with it).
    const file = await Deno.makeTempFile({
      prefix: `mill-nemesis-${seed}-`,
      suffix: ".json",
    });
    await Deno.writeTextFile(
      file,
      JSON.stringify({ seed, originMs, applied, records, final }),
    );
    report += `\nthe whole history: ${file}`;
  }
  console.log(
    `+${
      Date.now() - originMs
    } ms checked: ${verdict.linearizability.outcome}, ops ${
      JSON.stringify(verdict.counts)
    }`,
  );
  assertTrue(
    okAfterHeal.size === clientCount,
    `healed, the cluster did not acknowledge a write from every client within ${RECOVERY_TIMEOUT_MS} ms\n${report}`,
  );
  // "unknown" (the checker's search bound) fails too: undecided proves nothing.
  assertTrue(
    verdict.linearizability.outcome === "ok" &&
      verdict.unexplained.length === 0 && verdict.lost.length === 0,
    report,
  );
  assertTrue(
    (verdict.counts["write.ok"] ?? 0) > 0 &&
      (verdict.counts["read.ok"] ?? 0) > 0,
    `the clients got no acknowledged write or read at all\n${report}`,
  );
}
