/**
 * The nemesis test's fault schedule, drawn from a seed (pure): the same
 * seed gives the same steps. Targets are node indexes (0-based) or "the
 * leader", which only the running cluster can tell, so a step names it and
 * the runner resolves it (and logs what it found).
 */
import { SeededRng } from "../../raft/rng.ts";

/** A node index, or whichever primary leads when the step starts. */
export type Target = number | "leader";

export type Fault =
  /** kill -9 of the whole node, restarted when the hold ends. */
  | { readonly kind: "kill"; readonly node: Target }
  /** The node alone on one side, the majority on the other. */
  | { readonly kind: "minority"; readonly node: Target }
  /** The other nodes cannot reach each other; the bridge reaches both. */
  | { readonly kind: "bridge"; readonly node: Target }
  /** Packets from `node` to the node `offset` places on are dropped. */
  | {
    readonly kind: "one-way";
    readonly node: Target;
    readonly offset: number;
  };

export interface Step {
  readonly fault: Fault;
  /** How long the fault is held before it is undone. */
  readonly holdMs: number;
  /** How long the cluster runs healed before the next step. */
  readonly quietMs: number;
  /** The node a "leader" target falls back to when no leader answers. */
  readonly fallback: number;
}

export interface PlanOptions {
  readonly nodes: number;
  /** The schedule stops once its holds and quiet times reach this. */
  readonly budgetMs: number;
  readonly holdMs?: readonly [number, number];
  readonly quietMs?: readonly [number, number];
}

const KINDS: readonly { kind: Fault["kind"]; weight: number }[] = [
  { kind: "kill", weight: 3 },
  { kind: "minority", weight: 3 },
  { kind: "bridge", weight: 2 },
  { kind: "one-way", weight: 2 },
];

export function planNemesis(seed: number, options: PlanOptions): Step[] {
  if (options.nodes < 3) {
    throw new Error(`the nemesis needs at least 3 nodes, not ${options.nodes}`);
  }
  const rng = new SeededRng(seed);
  const [holdMin, holdMax] = options.holdMs ?? [2_000, 5_000];
  const [quietMin, quietMax] = options.quietMs ?? [1_000, 2_500];
  const between = (min: number, max: number) =>
    min + rng.nextInt(max - min + 1);
  const steps: Step[] = [];
  let total = 0;
  while (total < options.budgetMs) {
    // Half the targets are the leader: that is where faults hurt most.
    const node: Target = rng.chance(0.5)
      ? "leader"
      : rng.nextInt(options.nodes);
    const fault = drawFault(rng, node, options.nodes);
    const step: Step = {
      fault,
      holdMs: between(holdMin, holdMax),
      quietMs: between(quietMin, quietMax),
      fallback: rng.nextInt(options.nodes),
    };
    steps.push(step);
    total += step.holdMs + step.quietMs;
  }
  return steps;
}

function drawFault(rng: SeededRng, node: Target, nodes: number): Fault {
  const sum = KINDS.reduce((s, k) => s + k.weight, 0);
  let pick = rng.nextInt(sum);
  const kind = KINDS.find((k) => (pick -= k.weight) < 0)!.kind;
  return kind === "one-way"
    ? { kind, node, offset: 1 + rng.nextInt(nodes - 1) }
    : { kind, node };
}

/** One line per step, for the test's output and failure reports. */
export function describePlan(steps: readonly Step[]): string {
  return steps.map((s, i) =>
    `  ${i + 1}. ${
      describeFault(s.fault)
    }, held ${s.holdMs} ms, then ${s.quietMs} ms healed`
  ).join("\n");
}

export function describeFault(fault: Fault): string {
  const who = (t: Target) => t === "leader" ? "the leader" : `n${t + 1}`;
  switch (fault.kind) {
    case "kill":
      return `kill -9 ${who(fault.node)}`;
    case "minority":
      return `${who(fault.node)} alone in a minority`;
    case "bridge":
      return `a bridge partition through ${who(fault.node)}`;
    case "one-way":
      return `one-way cut from ${
        who(fault.node)
      } to the node ${fault.offset} on`;
  }
}
