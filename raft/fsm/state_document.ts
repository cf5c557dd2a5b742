/** The state as snapshots hold it: plain JSON data (see codec.ts). */
import type { ClusterConfig } from "../../config/types.ts";
import type {
  Alloc,
  ClusterTokens,
  DeployRecord,
  FsmNode,
  FsmSecret,
  FsmVolume,
} from "./state.ts";

/** A node as snapshots hold it: without the usage rebuilt from allocs. */
export type NodeRecord = Omit<
  FsmNode,
  "cpuMillisReserved" | "memoryBytesReserved" | "activeAllocs" | "hostPorts"
>;

/** The whole state as plain JSON data, collections sorted by key. */
export interface StateDocument {
  readonly config: ClusterConfig;
  readonly nodes: readonly NodeRecord[];
  readonly allocs: readonly Alloc[];
  readonly secrets: readonly FsmSecret[];
  readonly volumes: readonly FsmVolume[];
  readonly deploys: readonly DeployRecord[];
  /** Absent while no token was rotated (so such a state's bytes are as before). */
  readonly tokens?: ClusterTokens;
}
