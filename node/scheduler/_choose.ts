/**
 * Picking a node for one alloc, and saying exactly why none fits.
 *
 * Order of preference among the nodes that fit (schedulable, constraints
 * met, enough free cpu and memory, a free host port when needed): fewest
 * live replicas of the same workload (spread), then the lowest load after
 * placing (the higher of the cpu and memory fractions), then fewest allocs,
 * then node id. Deterministic for the same input.
 */
import type { PlacementConstraint } from "../../config/types.ts";
import type { FsmNode } from "../../raft/fsm/mod.ts";
import type { UnplacedCode } from "./plan.ts";
import type { ClusterView } from "./_view.ts";

export interface Ask {
  readonly workload: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly needsPort: boolean;
  readonly constraints: readonly PlacementConstraint[];
}

/** The value of a constraint attribute on a node; undefined when it has none. */
function attributeOf(node: FsmNode, attribute: string): string | undefined {
  if (attribute === "node.name") return node.name;
  if (attribute === "node.id") return node.id;
  if (attribute.startsWith("node.label.")) {
    const key = attribute.slice("node.label.".length);
    return Object.hasOwn(node.labels, key) ? node.labels[key] : undefined;
  }
  return undefined;
}

/** `==` needs the attribute present and equal; `!=` passes when absent. */
export function meetsConstraints(
  node: FsmNode,
  constraints: readonly PlacementConstraint[],
): boolean {
  for (const constraint of constraints) {
    const value = attributeOf(node, constraint.attribute);
    const equal = value === constraint.value;
    if (constraint.operator === "==" ? !equal : equal) return false;
  }
  return true;
}

/** Whether node `index` can take the ask now. */
export function fits(view: ClusterView, index: number, ask: Ask): boolean {
  return view.schedulable[index] === true &&
    view.cpuFree[index]! >= ask.cpuMillis &&
    view.memoryFree[index]! >= ask.memoryBytes &&
    (ask.constraints.length === 0 ||
      meetsConstraints(view.node(index), ask.constraints)) &&
    (!ask.needsPort || view.hasFreePort(index)) &&
    view.hasFreeAddress(index);
}

/** The best node for the ask, or -1 when none fits. */
export function chooseNode(
  view: ClusterView,
  ask: Ask,
  spread: ReadonlyMap<number, number>,
): number {
  let best = -1;
  let bestSpread = 0;
  let bestLoad = 0;
  let bestCount = 0;
  const count = view.nodes.length;
  for (let index = 0; index < count; index++) {
    if (!fits(view, index, ask)) continue;
    const replicas = spread.get(index) ?? 0;
    if (best >= 0 && replicas > bestSpread) continue;
    const load = view.loadAfter(index, ask.cpuMillis, ask.memoryBytes);
    const allocs = view.allocCount[index]!;
    const better = best < 0 || replicas < bestSpread || load < bestLoad ||
      (load === bestLoad && allocs < bestCount);
    if (better) {
      best = index;
      bestSpread = replicas;
      bestLoad = load;
      bestCount = allocs;
    }
  }
  return best;
}

export interface Refusal {
  readonly code: UnplacedCode;
  readonly message: string;
}

/**
 * Why no node among `candidates` (all nodes when omitted) takes the ask,
 * e.g. `web: needs 2 cpu; most free is node-3 with 1.5`.
 */
export function explainRefusal(
  view: ClusterView,
  ask: Ask,
  candidates?: readonly number[],
): Refusal {
  const all = candidates ?? view.nodes.map((_, index) => index);
  const schedulable = all.filter((index) => view.schedulable[index]);
  const who = ask.workload;
  if (schedulable.length === 0) {
    return {
      code: "no_schedulable_node",
      message: `${who}: no schedulable node (${
        describeUnschedulable(view, all)
      })`,
    };
  }
  const matching = schedulable.filter((index) =>
    meetsConstraints(view.node(index), ask.constraints)
  );
  if (matching.length === 0) {
    const rules = ask.constraints.map((c) =>
      `${c.attribute} ${c.operator} "${c.value}"`
    );
    return {
      code: "constraints_unmet",
      message: `${who}: no schedulable node meets ${
        rules.join(" and ")
      } (${schedulable.length} checked)`,
    };
  }
  const mostCpu = maxBy(matching, (index) => view.cpuFree[index]!);
  if (view.cpuFree[mostCpu]! < ask.cpuMillis) {
    return {
      code: "insufficient_cpu",
      message: `${who}: needs ${cores(ask.cpuMillis)} cpu; most free is ${
        view.node(mostCpu).name
      } with ${cores(view.cpuFree[mostCpu]!)}`,
    };
  }
  const mostMemory = maxBy(matching, (index) => view.memoryFree[index]!);
  if (view.memoryFree[mostMemory]! < ask.memoryBytes) {
    return {
      code: "insufficient_memory",
      message: `${who}: needs ${bytes(ask.memoryBytes)} memory; most free is ${
        view.node(mostMemory).name
      } with ${bytes(view.memoryFree[mostMemory]!)}`,
    };
  }
  const roomy = matching.filter((index) =>
    view.cpuFree[index]! >= ask.cpuMillis &&
    view.memoryFree[index]! >= ask.memoryBytes
  );
  if (roomy.length === 0) {
    const shown = matching.slice(0, 3).map((index) =>
      `${view.node(index).name}: ${cores(view.cpuFree[index]!)} cpu, ${
        bytes(view.memoryFree[index]!)
      }`
    );
    return {
      code: "insufficient_resources",
      message: `${who}: needs ${cores(ask.cpuMillis)} cpu and ${
        bytes(ask.memoryBytes)
      }; no node has both free (${shown.join("; ")})`,
    };
  }
  return {
    code: "no_free_port",
    message: `${who}: every node with room has used its whole host port pool`,
  };
}

function describeUnschedulable(view: ClusterView, all: readonly number[]) {
  if (all.length === 0) return "no nodes registered";
  const shown = all.slice(0, 5).map((index) => {
    const node = view.node(index);
    const why = node.status === "down"
      ? "down"
      : node.draining
      ? "draining"
      : !node.containers
      ? "runs no containers"
      : "excluded";
    return `${node.name} ${why}`;
  });
  const more = all.length > shown.length
    ? `, ${all.length - shown.length} more`
    : "";
  return shown.join(", ") + more;
}

function maxBy(indexes: readonly number[], value: (index: number) => number) {
  let best = indexes[0]!;
  for (const index of indexes) if (value(index) > value(best)) best = index;
  return best;
}

/** Millicores as cores: 1500 → "1.5". */
export function cores(cpuMillis: number): string {
  return String(cpuMillis / 1000);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** Bytes for people: 536870912 → "512 MiB". */
export function bytes(count: number): string {
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Math.round(value * 100) / 100} ${UNITS[unit]}`;
}
