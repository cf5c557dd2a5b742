/**
 * The checks a deploy passes before it commits anything: no other deploy
 * running, every referenced secret present, every replica placeable (and
 * the plan accepted by `apply` when replayed in the deploy's order, so the
 * scheduler and the commit check never disagree), nothing the build cannot
 * do. Pure: a refusal here starts nothing.
 */
import type { ClusterConfig } from "../../config/types.ts";
import {
  apply,
  type ClusterState,
  type ConfigDiff,
  diffWithCurrent,
  runningDeploy,
} from "../../raft/fsm/mod.ts";
import { type Plan, replayDeploy, schedule } from "../scheduler/mod.ts";
import { checkSecretRefs, MissingSecretsError } from "../secrets/mod.ts";
import { DeployError } from "./errors.ts";

/** What a deploy needs before it commits anything, or why it is refused. */
export function prepareDeploy(
  state: ClusterState,
  config: ClusterConfig,
  deployId: string,
  /** A storage driver runs volume steps (none: persistent volumes refused). */
  volumesManaged = false,
): { deployId: string; diff: ConfigDiff; plan: Plan } | DeployError {
  const running = runningDeploy(state);
  if (running !== null) {
    return new DeployError(
      "deploy.in_progress",
      `Deploy "${running.id}" is still running; wait for it to finish`,
    );
  }
  const secretsMissing = missingSecrets(state, config);
  if (secretsMissing !== null) return secretsMissing;
  const diff = diffWithCurrent(state, config);
  const plan = schedule(state, {
    type: "deploy",
    config,
    diff,
    idPrefix: deployId,
  });
  if (plan.unplaced.length > 0) {
    return new DeployError(
      "deploy.unplaced",
      `Cannot place every replica; nothing was started: ${
        plan.unplaced.map((u) => u.message).join("; ")
      }`,
    );
  }
  const volumeStep = plan.steps.find((step) =>
    step.type !== "place" && step.type !== "replace" && step.type !== "stop"
  );
  if (volumeStep !== undefined && !volumesManaged) {
    return new DeployError(
      "deploy.volumes_unsupported",
      "This config needs persistent volumes and the cluster has no storage provider; use ephemeral volumes",
    );
  }
  const refused = replayAfterDeploy(state, config, deployId, plan);
  if (refused !== null) {
    return new DeployError(
      "deploy.unplaced",
      `Cannot place every replica; nothing was started: ${refused}`,
    );
  }
  return { deployId, diff, plan };
}

/** Why `apply` would refuse the plan once the deploy is committed, or null. */
function replayAfterDeploy(
  state: ClusterState,
  config: ClusterConfig,
  deployId: string,
  plan: Plan,
): string | null {
  const deployed = apply(state, {
    type: "Deploy",
    deployId,
    config,
    atMs: 0,
  });
  if (!deployed.ok) return deployed.rejection.message;
  const refused = replayDeploy(deployed.state, plan, 0);
  return refused === null ? null : refused.rejection.message;
}

function missingSecrets(
  state: ClusterState,
  config: ClusterConfig,
): DeployError | null {
  const missing = new Set<string>();
  const workloads = [
    ...Object.values(config.services),
    ...Object.values(config.tasks),
  ];
  for (const workload of workloads) {
    try {
      checkSecretRefs(workload.env, (name) => state.secrets.has(name));
    } catch (error) {
      if (!(error instanceof MissingSecretsError)) throw error;
      for (const name of error.names) missing.add(name);
    }
  }
  if (missing.size === 0) return null;
  const names = [...missing].sort().map((n) => `"${n}"`).join(", ");
  return new DeployError(
    "secret.missing",
    `The config references secrets that do not exist: ${names}; set them with "mill secret set NAME" first`,
  );
}
