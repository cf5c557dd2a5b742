/** Expected failures of a deploy or a spawn, with stable codes. */

export type DeployErrorCode =
  /** Another deploy is running (`deploy.in_progress` from the FSM). */
  | "deploy.in_progress"
  /** The config text does not parse or validate (`config.*` details in the message). */
  | "deploy.invalid_config"
  /** A referenced secret does not exist; nothing was started. */
  | "secret.missing"
  /** The scheduler could not place every replica; nothing was started. */
  | "deploy.unplaced"
  /** A new alloc failed (pull, start or health): everything new was stopped. */
  | "deploy.failed"
  /** The FSM refused a command the deploy needed. */
  | "deploy.rejected"
  /** Persistent volumes need a storage provider the cluster does not have. */
  | "deploy.volumes_unsupported"
  /** The leader lost leadership mid-deploy; the next leader recovers it. */
  | "deploy.leadership_lost"
  /** No such task in the deployed config. */
  | "task.unknown"
  /** The task could not be placed, pulled or started. */
  | "task.failed";

export class DeployError extends Error {
  override name = "DeployError";
  constructor(
    readonly code: DeployErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
