/**
 * The cluster FSM's transition function: pure, no clock, no randomness, no
 * I/O. A bad command is data: `apply` returns a rejection with a stable code
 * and leaves the state as it was; it throws only on a broken invariant (a
 * bug in mill).
 */
import type { Applied, Command } from "./command.ts";
import type { ClusterState } from "./state.ts";
import { quote, reject } from "./_apply_common.ts";
import {
  applyAcmeAccountSet,
  applyAcmeChallenge,
  applyAcmeLease,
  applyAcmeSettingsSet,
  applyCertificateOrderFailed,
  applyCertificateStored,
} from "./_apply_acme.ts";
import {
  applyNodeDown,
  applyNodeDrain,
  applyNodeHeartbeat,
  applyNodeRegister,
  applyNodeRemove,
  applyNodeUndrain,
  applyNodeUp,
} from "./_apply_nodes.ts";
import {
  applyAllocRunning,
  applyAllocScheduled,
  applyAllocsPurged,
  applyAllocStatus,
  applyAllocStopRequested,
} from "./_apply_allocs.ts";
import {
  applyAllocsScheduled,
  applyDeployWithWave,
} from "./_apply_allocs_batch.ts";
import {
  applyDeploy,
  applyDeployFinished,
  applySecretDelete,
  applySecretSet,
  applyTokenRotated,
} from "./_apply_config.ts";
import {
  applyVolumeAttached,
  applyVolumeCreated,
  applyVolumeDestroyed,
  applyVolumeDetached,
  applyVolumeReady,
} from "./_apply_volumes.ts";

/**
 * Applies one committed command.
 *
 * @example
 * ```ts
 * const applied = apply(state, { type: "NodeDrain", nodeId: "n3", atMs: 1 });
 * if (applied.ok) state = applied.state;
 * else log(applied.rejection.code, applied.rejection.message);
 * ```
 */
export function apply(state: ClusterState, command: Command): Applied {
  switch (command.type) {
    case "Deploy":
      return applyDeploy(state, command);
    case "DeployFinished":
      return applyDeployFinished(state, command);
    case "NodeRegister":
      return applyNodeRegister(state, command);
    case "NodeHeartbeat":
      return applyNodeHeartbeat(state, command);
    case "NodeDown":
      return applyNodeDown(state, command);
    case "NodeUp":
      return applyNodeUp(state, command);
    case "NodeDrain":
      return applyNodeDrain(state, command);
    case "NodeUndrain":
      return applyNodeUndrain(state, command);
    case "NodeRemove":
      return applyNodeRemove(state, command);
    case "AllocScheduled":
      return applyAllocScheduled(state, command);
    case "AllocsScheduled":
      return applyAllocsScheduled(state, command);
    case "AllocStatus":
      return applyAllocStatus(state, command);
    case "AllocRunning":
      return applyAllocRunning(state, command);
    case "AllocStopRequested":
      return applyAllocStopRequested(state, command);
    case "AllocsPurged":
      return applyAllocsPurged(state, command);
    case "SecretSet":
      return applySecretSet(state, command);
    case "SecretDelete":
      return applySecretDelete(state, command);
    case "VolumeCreated":
      return applyVolumeCreated(state, command);
    case "VolumeAttached":
      return applyVolumeAttached(state, command);
    case "VolumeDetached":
      return applyVolumeDetached(state, command);
    case "VolumeReady":
      return applyVolumeReady(state, command);
    case "VolumeDestroyed":
      return applyVolumeDestroyed(state, command);
    case "TokenRotated":
      return applyTokenRotated(state, command);
    case "AcmeSettingsSet":
      return applyAcmeSettingsSet(state, command);
    case "AcmeAccountSet":
      return applyAcmeAccountSet(state, command);
    case "AcmeLease":
      return applyAcmeLease(state, command);
    case "AcmeChallenge":
      return applyAcmeChallenge(state, command);
    case "CertificateStored":
      return applyCertificateStored(state, command);
    case "CertificateOrderFailed":
      return applyCertificateOrderFailed(state, command);
    case "DeployWithWave":
      return applyDeployWithWave(state, command);
    default: {
      const _exhaustive: never = command;
      const type: unknown = (_exhaustive as { type?: unknown }).type;
      return reject(
        "command.unknown_type",
        `Unknown command type ${quote(type)}`,
      );
    }
  }
}
