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
export { createCoordinator, routesEvent } from "./coordinator.ts";
export {
  addDeployRoutes,
  DEPLOY_BODY_BYTES_MAX,
  DEPLOY_CONTENT_TYPES,
  deployResponse,
} from "./http.ts";
export { DeployError, type DeployErrorCode } from "./errors.ts";
export { prepareDeploy } from "./prepare.ts";
export {
  commitDeploy,
  type DeployCommitted,
  firstWaveOf,
} from "./_commit_deploy.ts";
export { planRecovery, type RecoveryPlan } from "./recover.ts";
export { TASK_POLL_MS, TASK_WATCH_MS_MAX } from "./task.ts";
