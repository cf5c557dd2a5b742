/** `applyX` for deploys, secrets and tokens. */
import type {
  Applied,
  DeployCommand,
  DeployFinishedCommand,
  SecretDeleteCommand,
  SecretSetCommand,
  TokenRotatedCommand,
} from "./command.ts";
import type { Workload } from "../../config/types.ts";
import type { ClusterState, DeployRecord, FsmSecret } from "./state.ts";
import { cpuMillisOf } from "./state.ts";
import { DEPLOYS_KEPT, SECRET_CIPHERTEXT_MAX } from "./limits.ts";
import {
  accept,
  invalidTime,
  invalidUnless,
  isBase64,
  isCount,
  isId,
  quote,
  reject,
} from "./_apply_common.ts";

export function applyDeploy(
  state: ClusterState,
  command: DeployCommand,
): Applied {
  const invalid =
    invalidUnless(isId(command.deployId), "Deploy id must be non-empty") ??
      invalidTime(command.atMs) ??
      checkConfigNames(command);
  if (invalid) return invalid;
  const last = state.deploys.at(-1);
  if (last?.status === "running") {
    return reject(
      "deploy.in_progress",
      `Deploy ${
        quote(last.id)
      } is still running; wait for it to finish or roll back`,
    );
  }
  if (state.deploys.some((deploy) => deploy.id === command.deployId)) {
    return reject("deploy.exists", `Deploy ${quote(command.deployId)} exists`);
  }
  const record: DeployRecord = {
    id: command.deployId,
    status: "running",
    startedAtMs: command.atMs,
    finishedAtMs: null,
    message: "",
    previousConfig: state.config,
  };
  const deploys = [...state.deploys, record].slice(-DEPLOYS_KEPT);
  return accept({ ...state, config: command.config, deploys });
}

/**
 * Keys and names agree (lookups by either find the same workload) and
 * resources are sane. The config validator checks the rest; this guards
 * the FSM against a config that bypassed it.
 */
function checkConfigNames(command: DeployCommand): Applied | null {
  const { services, tasks } = command.config;
  const workloads: [string, Workload, Workload["kind"]][] = [
    ...Object.entries(services).map(([key, w]) =>
      [key, w, "service"] as [string, Workload, "service"]
    ),
    ...Object.entries(tasks).map(([key, w]) =>
      [key, w, "task"] as [string, Workload, "task"]
    ),
  ];
  for (const [key, workload, kind] of workloads) {
    if (workload.name !== key || workload.kind !== kind) {
      return reject(
        "command.invalid",
        `Workload ${quote(key)} is named ${quote(workload.name)} of kind ${
          quote(workload.kind)
        } under ${kind}s; keys, names and kinds must agree`,
      );
    }
    const cpuMillis = cpuMillisOf(workload.cpu);
    if (!isCount(cpuMillis) || !isCount(workload.memoryBytes)) {
      return reject(
        "command.invalid",
        `Workload ${quote(key)} asks for ${quote(workload.cpu)} cpu and ${
          quote(workload.memoryBytes)
        } bytes; both must be non-negative`,
      );
    }
  }
  return null;
}

export function applyDeployFinished(
  state: ClusterState,
  command: DeployFinishedCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(
      command.outcome === "succeeded" || command.outcome === "rolled_back" ||
        command.outcome === "cancelled",
      `Deploy outcome must be "succeeded", "rolled_back" or "cancelled", got ${
        quote(command.outcome)
      }`,
    );
  if (invalid) return invalid;
  const index = state.deploys.findIndex((deploy) =>
    deploy.id === command.deployId
  );
  const record = state.deploys[index];
  if (record === undefined) {
    return reject(
      "deploy.unknown",
      `Deploy ${quote(command.deployId)} is unknown`,
    );
  }
  if (record.status !== "running" || record.previousConfig === null) {
    return reject(
      "deploy.not_running",
      `Deploy ${quote(record.id)} already finished (${record.status})`,
    );
  }
  const finished: DeployRecord = {
    ...record,
    status: command.outcome,
    finishedAtMs: command.atMs,
    message: command.message,
    previousConfig: null,
  };
  const deploys = state.deploys.slice();
  deploys[index] = finished;
  const config = command.outcome === "succeeded"
    ? state.config
    : record.previousConfig;
  return accept({ ...state, config, deploys });
}

export function applySecretSet(
  state: ClusterState,
  command: SecretSetCommand,
): Applied {
  const invalid =
    invalidUnless(isId(command.name), "Secret name must be non-empty") ??
      invalidUnless(
        isBase64(command.ciphertext) &&
          command.ciphertext.length <= SECRET_CIPHERTEXT_MAX,
        `Secret ciphertext must be base64 of at most ${SECRET_CIPHERTEXT_MAX} characters`,
      ) ??
      invalidUnless(isBase64(command.nonce), "Secret nonce must be base64") ??
      invalidTime(command.atMs);
  if (invalid) return invalid;
  const existing = state.secrets.get(command.name);
  const secret: FsmSecret = {
    name: command.name,
    ciphertext: command.ciphertext,
    nonce: command.nonce,
    createdAtMs: existing?.createdAtMs ?? command.atMs,
    updatedAtMs: command.atMs,
  };
  return accept({ ...state, secrets: state.secrets.set(secret.name, secret) });
}

export function applySecretDelete(
  state: ClusterState,
  command: SecretDeleteCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  if (!state.secrets.has(command.name)) {
    return reject(
      "secret.unknown",
      `Secret ${quote(command.name)} does not exist`,
    );
  }
  return accept({ ...state, secrets: state.secrets.delete(command.name) });
}

export function applyTokenRotated(
  state: ClusterState,
  command: TokenRotatedCommand,
): Applied {
  const invalid = invalidUnless(
    command.kind === "admin" || command.kind === "join",
    "Token kind must be admin or join",
  ) ??
    invalidUnless(
      /^[0-9a-f]{64}$/.test(command.tokenSha256),
      "Token hash must be 64 lowercase hex digits (SHA-256)",
    ) ??
    invalidTime(command.atMs);
  if (invalid) return invalid;
  return accept({
    ...state,
    tokens: { ...state.tokens, [command.kind]: command.tokenSha256 },
  });
}
