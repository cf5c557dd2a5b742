/**
 * Runs a plan through the FSM the way the coordinators will, minus the
 * containers: every step becomes the commands it commits (a `replace`
 * assumes the new alloc turned healthy). For tests and benchmarks: a
 * placement is only real once `apply` accepted it.
 */
import {
  apply,
  type ClusterState,
  type Command,
  type Rejection,
} from "../../raft/fsm/mod.ts";
import type { ClusterConfig } from "../../config/types.ts";
import { diffConfig } from "../../raft/fsm/mod.ts";
import { stateFrom } from "../../raft/fsm/testing.ts";
import type { Plan } from "./plan.ts";
import { schedule } from "./scheduler.ts";
import { deployCommands, stepCommands } from "./replay.ts";

export interface Committed {
  readonly state: ClusterState;
  /** Placements accepted (`AllocScheduled`, and each of an `AllocsScheduled`). */
  readonly placed: number;
  readonly rejections: readonly { command: Command; rejection: Rejection }[];
}

/**
 * Applies every step's commands, collecting rejections: in plan order, or
 * with `waves` in the order a deploy runs them (`first` stops and volume
 * steps, then per wave its stop-first old allocs, its placements, its
 * start-first old allocs; then the `last` stops).
 */
export function commitPlan(
  state: ClusterState,
  plan: Plan,
  atMs: number,
  options: { readonly waves?: boolean } = {},
): Committed {
  let current = state;
  let placed = 0;
  const rejections: { command: Command; rejection: Rejection }[] = [];
  const commands = options.waves === true
    ? deployCommands(plan, atMs)
    : plan.steps.flatMap((step) => stepCommands(step, atMs));
  for (const command of commands) {
    const applied = apply(current, command);
    if (!applied.ok) {
      rejections.push({ command, rejection: applied.rejection });
      continue;
    }
    current = applied.state;
    if (command.type === "AllocScheduled") placed++;
    if (command.type === "AllocsScheduled") placed += command.placements.length;
  }
  return { state: current, placed, rejections };
}

/** Deploys `next` on `state` (finishing any running deploy) and plans it. */
export function deployPlan(
  state: ClusterState,
  next: ClusterConfig,
  id = "d1",
): { state: ClusterState; plan: Plan } {
  const before = state.config;
  const running = state.deploys.at(-1)?.status === "running"
    ? state.deploys.at(-1)?.id
    : undefined;
  const finish: Command[] = running === undefined ? [] : [{
    type: "DeployFinished",
    deployId: running,
    outcome: "succeeded",
    message: "",
    atMs: 1,
  }];
  const deployed = stateFrom([...finish, {
    type: "Deploy",
    deployId: id,
    config: next,
    atMs: 2,
  }], state);
  const plan = schedule(deployed, {
    type: "deploy",
    config: next,
    diff: diffConfig(before, next),
    idPrefix: id,
  });
  return { state: deployed, plan };
}
