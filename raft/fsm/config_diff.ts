/**
 * The diff of a new config against the current one: which services and
 * tasks are added, changed (and in which aspects), removed or unchanged.
 * The deploy pipeline touches only what changed.
 */
import {
  type ClusterConfig,
  FAILURE_THRESHOLD_DEFAULT,
  type HealthConfig,
  type ServiceConfig,
  type TaskConfig,
  UPDATE_DEFAULT,
  type Workload,
} from "../../config/types.ts";
import { canonicalJson } from "./canonical_json.ts";

/** One facet of a workload a deploy may change. */
export type Aspect =
  | "image"
  | "command"
  | "env"
  | "resources"
  | "ports"
  | "replicas"
  | "health"
  | "volumes"
  | "routes"
  | "constraints"
  | "labels"
  | "restart"
  | "stop"
  | "timeout"
  /** How a change rolls out: it applies to the next roll, replaces nothing. */
  | "update";

/** Aspects a deploy applies without replacing running allocs. */
export const IN_PLACE_ASPECTS: readonly Aspect[] = [
  "replicas",
  "routes",
  "update",
];

export interface WorkloadChange {
  readonly name: string;
  /** In the order of `ASPECTS`. */
  readonly aspects: readonly Aspect[];
}

export interface WorkloadDiff {
  /** Each list sorted by name. */
  readonly added: readonly string[];
  readonly changed: readonly WorkloadChange[];
  readonly removed: readonly string[];
  readonly unchanged: readonly string[];
}

export interface ConfigDiff {
  readonly services: WorkloadDiff;
  readonly tasks: WorkloadDiff;
}

type Picker = (workload: Workload) => unknown;

/** How each aspect is read off a workload; compared as canonical JSON. */
const ASPECTS: ReadonlyArray<readonly [Aspect, Picker]> = [
  ["image", (w) => w.image],
  ["command", (w) => [w.command ?? null, w.args ?? null]],
  ["env", (w) => w.env],
  ["resources", (w) => [w.cpu, w.memoryBytes]],
  ["ports", (w) => (w.kind === "service" ? w.port ?? null : null)],
  ["replicas", (w) => (w.kind === "service" ? w.replicas : null)],
  ["health", (w) => (w.kind === "service" ? health(w.health) : null)],
  ["volumes", (w) => w.volumes],
  ["routes", (w) => (w.kind === "service" ? w.routes : null)],
  ["constraints", (w) => w.constraints],
  ["labels", (w) => w.labels],
  ["restart", (w) => (w.kind === "service" ? w.restart : null)],
  ["stop", (w) => [w.stopSignal, w.stopGracePeriodMs]],
  ["timeout", (w) => (w.kind === "task" ? w.timeoutMs ?? null : null)],
  ["update", (w) => (w.kind === "service" ? w.update ?? UPDATE_DEFAULT : null)],
];

/** A health check with its defaults filled: absent and default compare equal. */
function health(config: HealthConfig | undefined): HealthConfig | null {
  if (config === undefined) return null;
  return {
    ...config,
    failureThreshold: config.failureThreshold ?? FAILURE_THRESHOLD_DEFAULT,
  };
}

/** What changed from `current` to `next`. */
export function diffConfig(
  current: ClusterConfig,
  next: ClusterConfig,
): ConfigDiff {
  return {
    services: diffWorkloads(current.services, next.services),
    tasks: diffWorkloads(current.tasks, next.tasks),
  };
}

/** The aspects in which two versions of a workload differ. */
export function changedAspects(before: Workload, after: Workload): Aspect[] {
  return ASPECTS.filter(([, pick]) =>
    canonicalJson(pick(before)) !== canonicalJson(pick(after))
  ).map(([aspect]) => aspect);
}

/** True when the change needs new allocs (a restart), not just bookkeeping. */
export function needsReplacement(change: WorkloadChange): boolean {
  return change.aspects.some((aspect) => !IN_PLACE_ASPECTS.includes(aspect));
}

function diffWorkloads<W extends ServiceConfig | TaskConfig>(
  current: Readonly<Record<string, W>>,
  next: Readonly<Record<string, W>>,
): WorkloadDiff {
  const added: string[] = [];
  const changed: WorkloadChange[] = [];
  const removed: string[] = [];
  const unchanged: string[] = [];
  for (const name of Object.keys(next).sort()) {
    const before = Object.hasOwn(current, name) ? current[name] : undefined;
    const after = next[name] as W;
    if (before === undefined) {
      added.push(name);
      continue;
    }
    // Most workloads are unchanged: one comparison of the whole settles it.
    const same = before === after ||
      canonicalJson(before) === canonicalJson(after);
    const aspects = same ? [] : changedAspects(before, after);
    if (aspects.length === 0) unchanged.push(name);
    else changed.push({ name, aspects });
  }
  for (const name of Object.keys(current).sort()) {
    if (!Object.hasOwn(next, name)) removed.push(name);
  }
  return { added, changed, removed, unchanged };
}
