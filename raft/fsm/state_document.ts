/** The state as snapshots hold it: plain JSON data (see codec.ts). */
import type { ClusterConfig } from "../../config/types.ts";
import type {
  AcmeState,
  Alloc,
  ClusterNetwork,
  ClusterTokens,
  DeployRecord,
  FsmNode,
  FsmSecret,
  FsmVolume,
  NodeMesh,
} from "./state.ts";

/**
 * A node as snapshots hold it: without the usage rebuilt from allocs, and
 * without its network fields while they are null (older snapshots).
 */
export type NodeRecord =
  & Omit<
    FsmNode,
    | "cpuMillisReserved"
    | "memoryBytesReserved"
    | "activeAllocs"
    | "hostPorts"
    | "allocHosts"
    | "subnet"
    | "mesh"
    | "containers"
  >
  & {
    /** Absent: true (every node before primary-only nodes registered). */
    readonly containers?: false;
    readonly subnet?: string;
    readonly mesh?: NodeMesh;
  };

/** An alloc as snapshots hold it: `ip` absent under host networking. */
export type AllocRecord = Omit<Alloc, "ip"> & { readonly ip?: string };

/** The whole state as plain JSON data, collections sorted by key. */
export interface StateDocument {
  readonly config: ClusterConfig;
  readonly nodes: readonly NodeRecord[];
  readonly allocs: readonly AllocRecord[];
  readonly secrets: readonly FsmSecret[];
  readonly volumes: readonly FsmVolume[];
  readonly deploys: readonly DeployRecord[];
  /** Absent while no token was rotated (so such a state's bytes are as before). */
  readonly tokens?: ClusterTokens;
  /** Absent until a node registered with a cluster range. */
  readonly network?: ClusterNetwork;
  /** Absent until a node was removed. */
  readonly removedNodes?: readonly string[];
  /** Absent while it is empty (no settings, certificates or lease yet). */
  readonly acme?: AcmeState;
}
