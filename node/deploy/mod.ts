/**
 * The deploy coordinator (seed 002): validate → diff → schedule → pull →
 * start → health → routes → done, with rolling replacement and atomic
 * rollback; task spawns; node-failure replacement; recovery of deploys in
 * flight after a leader change. See README.md beside this file.
 */
export type {
  CommitResult,
  Coordinator,
  DeployContext,
  DeployOutcome,
  TaskOutcome,
} from "./context.ts";
export * from "./events.ts";
