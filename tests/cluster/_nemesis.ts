/**
 * The nemesis: plays a `_nemesis_plan.ts` schedule on a bed (kill -9 and
 * restart, majority/minority, bridge, one-way cuts, each undone after its
 * hold), resolving "the leader" when a step starts, and logs what it did
 * with times relative to the test's origin.
 */
import type { Bed, BedNode } from "./bed.ts";
import {
  describeFault,
  type Fault,
  type Step,
  type Target,
} from "./_nemesis_plan.ts";

export interface AppliedStep {
  readonly step: number;
  /** What was done, with the leader resolved. */
  readonly what: string;
  /** When the fault was in place (the leader resolved, the cut or kill done). */
  readonly startedAt: number;
  /** When it was undone (the cut removed, the killed node started again). */
  readonly healedAt: number;
}

/**
 * Plays `steps`, starting no new one past `untilMs` (a loaded machine
 * stretches kills and restarts); afterwards every cut is healed and every
 * node runs.
 */
export async function runNemesis(
  bed: Bed,
  steps: readonly Step[],
  originMs: number,
  log: (line: string) => void,
  untilMs = Number.POSITIVE_INFINITY,
): Promise<AppliedStep[]> {
  const applied: AppliedStep[] = [];
  try {
    for (const [i, step] of steps.entries()) {
      if (Date.now() >= untilMs) {
        log(
          `+${Date.now() - originMs} ms nemesis: out of time, ${
            steps.length - i
          } steps left out`,
        );
        break;
      }
      const leader = await findLeader(bed);
      const resolve = (t: Target) =>
        t === "leader" ? (leader ?? bed.nodes[step.fallback]!) : bed.nodes[t]!;
      const node = resolve(step.fault.node);
      const what = `${describeFault(step.fault)} (${node.name}${
        step.fault.kind === "one-way"
          ? ` → ${oneWayTarget(bed, node, step.fault.offset).name}`
          : ""
      }${
        step.fault.node === "leader" && leader === null
          ? "; no leader answered"
          : ""
      })`;
      const undo = await inflict(bed, step.fault, node);
      const startedAt = Date.now();
      log(`+${startedAt - originMs} ms nemesis ${i + 1}: ${what}`);
      await sleep(step.holdMs);
      await undo();
      const healedAt = Date.now();
      log(`+${healedAt - originMs} ms nemesis ${i + 1}: undone`);
      applied.push({ step: i + 1, what, startedAt, healedAt });
      await sleep(step.quietMs);
    }
  } finally {
    await healAll(bed);
  }
  return applied;
}

/** Applies the fault to `node`; the returned function undoes it. */
async function inflict(
  bed: Bed,
  fault: Fault,
  node: BedNode,
): Promise<() => Promise<void>> {
  const others = bed.nodes.filter((n) => n !== node);
  switch (fault.kind) {
    case "kill":
      await bed.kill9(node);
      return () => bed.restart(node);
    case "minority":
      await bed.isolate(node);
      return () => bed.heal();
    case "bridge": {
      // The bridge is in no group, so it reaches both sides.
      const half = Math.ceil(others.length / 2);
      await bed.partition([others.slice(0, half), others.slice(half)]);
      return () => bed.heal();
    }
    case "one-way": {
      await bed.cutOneWay(node, oneWayTarget(bed, node, fault.offset));
      return () => bed.heal();
    }
  }
}

function oneWayTarget(bed: Bed, from: BedNode, offset: number): BedNode {
  return bed.nodes[(from.index - 1 + offset) % bed.nodes.length]!;
}

/** Every cut removed and every killed node restarted. */
export async function healAll(bed: Bed): Promise<void> {
  await bed.heal();
  for (const node of bed.nodes) {
    if (!bed.isRunning(node)) await bed.restart(node);
  }
}

/**
 * The primary the running primaries name as leader, asked all at once with
 * a short bound (bed.leader() waits up to 20 s: too long for a nemesis).
 */
export async function findLeader(bed: Bed): Promise<BedNode | null> {
  const token = (await Deno.readTextFile(`${bed.dir}/admin.token`)).trim();
  const names = await Promise.all(
    bed.nodes.filter((n) => n.primary && bed.isRunning(n)).map(async (n) => {
      const result = await bed.exec(n, [
        "curl",
        "-sS",
        "--fail",
        "--max-time",
        "2",
        "--cacert",
        `${bed.dir}/ca.crt`,
        "-H",
        `authorization: Bearer ${token}`,
        `${n.apiUrl}/v1/status`,
      ], { timeoutMs: 6_000 });
      if (result.code !== 0) return null;
      try {
        return (JSON.parse(result.stdout) as {
          leader: { name: string } | null;
        })
          .leader?.name ?? null;
      } catch {
        return null;
      }
    }),
  );
  const name = names.find((n) => n !== null);
  return bed.nodes.find((n) => n.name === name) ?? null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
