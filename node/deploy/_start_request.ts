/**
 * What the coordinator sends a node to start an alloc, and how an exit is
 * turned into a task's exit code. Pure.
 */
import type { ServiceConfig, TaskConfig } from "../../config/types.ts";
import type { Alloc } from "../../raft/fsm/mod.ts";
import type { ExitCause } from "../restart/mod.ts";
import type { StartRequest } from "../rpc/mod.ts";
import {
  decryptReferencedSecrets,
  referencedSecretNames,
} from "../secrets/mod.ts";
import { assert } from "./_assert.ts";
import type { DeployContext } from "./context.ts";

/** The label carrying a service's restart policy to its node. */
export const RESTART_LABEL = "mill.restart";

/**
 * The plaintext of the secrets `workload`'s env references, decrypted here
 * on the leader for one start. A secret deleted since the deploy's check
 * raises `secret.missing`, which fails the alloc before its node is asked.
 */
export function secretValuesOf(
  workload: ServiceConfig | TaskConfig,
  context: Pick<DeployContext, "encryptedSecret" | "clusterKey">,
): Promise<Record<string, string>> {
  return decryptReferencedSecrets(
    workload.env,
    (name) => context.encryptedSecret(name),
    context.clusterKey(),
  );
}

/**
 * The start request for `alloc` of `workload`. Env keeps its
 * `${secret(name)}` references; `secretValues` (from `secretValuesOf`)
 * travels beside it, only to the alloc's node, which resolves them.
 */
export function startRequestOf(
  alloc: Alloc,
  workload: ServiceConfig | TaskConfig,
  secretValues: Readonly<Record<string, string>>,
  /** Where an attached persistent volume's device is on the alloc's node. */
  deviceOf: (volume: string) => string | null = () => null,
): StartRequest {
  assert(alloc.workload === workload.name, "the alloc is of this workload");
  const referenced = referencedSecretNames(workload.env);
  assert(
    referenced.every((name) => Object.hasOwn(secretValues, name)),
    "every referenced secret has its value",
  );
  const values: Record<string, string> = {};
  for (const name of referenced) values[name] = secretValues[name] ?? "";
  const labels: Record<string, string> = {
    ...workload.labels,
    "mill.alloc": alloc.id,
    "mill.workload": workload.name,
  };
  if (workload.kind === "service") labels[RESTART_LABEL] = workload.restart;
  return {
    allocId: alloc.id,
    name: workload.name,
    kind: workload.kind,
    image: alloc.image,
    ...(workload.command === undefined
      ? {}
      : { command: [...workload.command] }),
    ...(workload.args === undefined ? {} : { args: [...workload.args] }),
    env: { ...workload.env },
    secretValues: values,
    cpu: workload.cpu,
    memoryBytes: workload.memoryBytes,
    ...(alloc.hostPort === null ? {} : { hostPort: alloc.hostPort }),
    ...(alloc.ip === null ? {} : { ip: alloc.ip }),
    ...(workload.kind === "service" && workload.port !== undefined
      ? { containerPort: workload.port }
      : {}),
    labels,
    stopSignal: workload.stopSignal,
    stopGracePeriodMs: workload.stopGracePeriodMs,
    ...(workload.kind === "task" && workload.timeoutMs !== undefined
      ? { timeoutMs: workload.timeoutMs }
      : {}),
    ...ephemeralVolumesOf(workload),
    ...persistentVolumesOf(workload, deviceOf),
  };
}

/** The workload's persistent volumes, each with its device on the node. */
function persistentVolumesOf(
  workload: ServiceConfig | TaskConfig,
  deviceOf: (volume: string) => string | null,
): Pick<StartRequest, "persistentVolumes"> {
  const mounts = workload.volumes.filter((v) => !v.ephemeral).map((v) => {
    const device = deviceOf(v.name);
    assert(device !== null, `volume ${v.name} is attached to the alloc's node`);
    return { name: v.name, path: v.path, device };
  });
  return mounts.length === 0 ? {} : { persistentVolumes: mounts };
}

/** The workload's ephemeral volumes, for its node to make and mount. */
function ephemeralVolumesOf(
  workload: ServiceConfig | TaskConfig,
): Pick<StartRequest, "volumes"> {
  const volumes = workload.volumes.filter((v) => v.ephemeral).map((v) => ({
    name: v.name,
    path: v.path,
    ...(v.sizeBytes === undefined ? {} : { sizeBytes: v.sizeBytes }),
  }));
  return volumes.length === 0 ? {} : { volumes };
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * A task's exit code as a shell reports it: its own code when it exited;
 * 128 + the signal number when killed (137 for SIGKILL and for an OOM kill);
 * 127 when it could not start.
 */
export function exitCodeOf(exit: ExitCause): number {
  switch (exit.kind) {
    case "exited":
      return exit.code < 0 ? 1 : exit.code;
    case "killed":
      return 128 + (SIGNAL_NUMBERS[exit.signal] ?? 9);
    case "oom":
    case "unhealthy":
      return 137;
    case "stopped":
      return 143;
    case "start-failed":
      return 127;
    default: {
      const _exhaustive: never = exit;
      throw new Error(`unknown exit ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/** Words for an exit, for messages: `exit code 3`, `killed by SIGKILL`. */
export function describeExit(exit: ExitCause): string {
  switch (exit.kind) {
    case "exited":
      return `exit code ${exit.code}`;
    case "killed":
      return `killed by ${exit.signal}`;
    case "oom":
      return "killed: out of memory";
    case "unhealthy":
      return "killed: unhealthy";
    case "stopped":
      return "stopped by mill";
    case "start-failed":
      return "could not start";
    default: {
      const _exhaustive: never = exit;
      throw new Error(`unknown exit ${JSON.stringify(_exhaustive)}`);
    }
  }
}
