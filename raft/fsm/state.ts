/**
 * The cluster state the FSM holds: config, nodes, allocs, secrets, volumes
 * and the deploy history. Plain readonly data; collections are persistent
 * maps (immutable: `set` returns a new map) so that a command copies only
 * what it touches.
 *
 * Resources are integers: cpu in millicores (`cpuMillis`, 1 core = 1000) and
 * memory in bytes, so sums and comparisons are exact.
 */
import type { ClusterConfig } from "../../config/types.ts";
import { PMap } from "./pmap.ts";

export type NodeId = string;
export type AllocId = string;
export type DeployId = string;

/** `down`: missed heartbeats or declared down; its allocs were failed. */
export type NodeStatus = "ready" | "down";

export interface FsmNode {
  readonly id: NodeId;
  /** The agent's install identity (from its data dir), stable across restarts. */
  readonly millId: string;
  /** Human name, e.g. `node-3`; what `node.name` constraints match. */
  readonly name: string;
  /** Mesh address other nodes and the proxy reach it on. */
  readonly address: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Where other nodes reach its agent (null: it serves no such endpoint). */
  readonly endpoints: NodeEndpoints;
  readonly status: NodeStatus;
  /** Set by `NodeDrain`: nothing new is placed here. Survives down/up. */
  readonly draining: boolean;
  /** False for a primary-only node: it is on the mesh and leads, runs nothing. */
  readonly containers: boolean;
  readonly registeredAtMs: number;
  readonly lastHeartbeatMs: number;
  readonly statusChangedAtMs: number;
  // Derived from the allocs (never in snapshots, rebuilt on restore):
  /** Sum of the non-terminal allocs' reservations. */
  readonly cpuMillisReserved: number;
  readonly memoryBytesReserved: number;
  /** Number of non-terminal allocs. */
  readonly activeAllocs: number;
  /** Host ports held by non-terminal allocs, ascending. */
  readonly hostPorts: readonly number[];
  /** Host numbers of `subnet` held by non-terminal allocs, ascending. */
  readonly allocHosts: readonly number[];
  // Networking (null on a node registered without it, e.g. before it existed):
  /** Its `/24` of the cluster range, e.g. `10.210.3.0/24`; given at registration. */
  readonly subnet: string | null;
  /** Its WireGuard peer: how the other nodes reach its subnet. */
  readonly mesh: NodeMesh | null;
}

/** A node's WireGuard identity as the other nodes configure it. */
export interface NodeMesh {
  /** Base64 X25519 public key (the private key never leaves the node). */
  readonly publicKey: string;
  /** `host:port` its WireGuard listens on (its public or underlay address). */
  readonly endpoint: string;
  /**
   * `host:port` of its peer port through the mesh (its mesh address, the
   * first of its subnet), once it serves there with a certificate naming
   * it; absent before. Other nodes with a mesh reach its Raft, RPC and node
   * messages there.
   */
  readonly peer?: string;
}

/** The cluster's network, fixed by the first node that registers with it. */
export interface ClusterNetwork {
  /** The range node subnets are cut from (`mill init --cluster-range`). */
  readonly clusterRange: string;
}

/** What a node publishes about its agent. */
export interface NodeEndpoints {
  /** `host:port` of its peer port (Raft, RPC, node messages). */
  readonly peer: string | null;
  /** Its API's base URL; set only on primaries. */
  readonly api: string | null;
}

/**
 * The endpoints of a node registered before they were typed fields: they
 * were the labels `mill.peer` and `mill.api` (old log entries, old snapshots).
 */
export function legacyEndpoints(
  labels: Readonly<Record<string, string>>,
): NodeEndpoints {
  return { peer: labels["mill.peer"] ?? null, api: labels["mill.api"] ?? null };
}

/** Every alloc status, in lifecycle order. */
export const ALLOC_STATUSES = [
  "pulling",
  "starting",
  "running",
  "healthy",
  "restarting",
  "stopped",
  "failed",
] as const;

export type AllocStatus = typeof ALLOC_STATUSES[number];

export type WorkloadKind = "service" | "task";

export interface Alloc {
  readonly id: AllocId;
  readonly nodeId: NodeId;
  /** The service or task name in the config. */
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly image: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** Host port mapped to the container port, from the node's port pool. */
  readonly hostPort: number | null;
  readonly deployId: DeployId | null;
  /** The alloc this one takes over from (rolling deploy, drain, failure). */
  readonly replacesAllocId: AllocId | null;
  readonly status: AllocStatus;
  /** Why it has its status: "node down", "exit code 1", "stop requested"… */
  readonly statusMessage: string;
  readonly exitCode: number | null;
  /** Container restarts by the node under the restart policy. */
  readonly restarts: number;
  /** `host:port` it answers on, set by `AllocRunning`. */
  readonly address: string | null;
  /** Its container address on its node's subnet; null: host networking. */
  readonly ip: string | null;
  /** The leader asked for it to stop; it no longer serves traffic. */
  readonly stopRequested: boolean;
  readonly scheduledAtMs: number;
  readonly startedAtMs: number | null;
  readonly updatedAtMs: number;
}

/** A secret as the log holds it: encrypted elsewhere, opaque here. */
export interface FsmSecret {
  readonly name: string;
  /** Base64 of the AES-256-GCM ciphertext (with its tag). */
  readonly ciphertext: string;
  /** Base64 of the nonce. */
  readonly nonce: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/**
 * `detached`: exists, attached nowhere. `attached`: on `nodeId`. `ready`:
 * detached for a migration (drain or node failure) and waiting to be
 * attached on the replacement node.
 */
export type VolumeState = "detached" | "attached" | "ready";

export interface FsmVolume {
  /** The config's volume name; cluster-wide unique. */
  readonly name: string;
  /** The provider's id, e.g. `vol-abc123`. */
  readonly cloudId: string;
  readonly sizeBytes: number | null;
  readonly state: VolumeState;
  /** Where it is attached; null unless `attached`. */
  readonly nodeId: NodeId | null;
  /** The last node it was attached to (or created for). */
  readonly lastNodeId: NodeId | null;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/** `cancelled`: stopped by `mill deploy --cancel` and rolled back like a failure. */
export type DeployStatus =
  | "running"
  | "succeeded"
  | "rolled_back"
  | "cancelled";

export interface DeployRecord {
  readonly id: DeployId;
  readonly status: DeployStatus;
  readonly startedAtMs: number;
  readonly finishedAtMs: number | null;
  readonly message: string;
  /** The config before this deploy, kept while running to roll back to. */
  readonly previousConfig: ClusterConfig | null;
}

export interface ClusterState {
  readonly config: ClusterConfig;
  readonly nodes: PMap<FsmNode>;
  readonly allocs: PMap<Alloc>;
  readonly secrets: PMap<FsmSecret>;
  readonly volumes: PMap<FsmVolume>;
  /** Oldest first, at most `DEPLOYS_KEPT`. */
  readonly deploys: readonly DeployRecord[];
  /** SHA-256 (hex) of the API tokens rotated through Raft; null: the one `mill init` made. */
  readonly tokens: ClusterTokens;
  /** Null until a node registers with a cluster range. */
  readonly network: ClusterNetwork | null;
  /**
   * Ids of the nodes `NodeRemove` took out, oldest first: such a node may
   * not register again, and its certificate no longer opens the peer port.
   */
  readonly removedNodes: readonly string[];
  /** The ingress's ACME settings, account, ordering lease, challenges and certificates. */
  readonly acme: AcmeState;
}

/**
 * What the cluster knows of its certificates (proxy/acme orders them):
 * whoever leads picks up the same account, lease and schedule.
 */
export interface AcmeState {
  /** Null: Let's Encrypt's production directory, no contact e-mail. */
  readonly settings: AcmeSettings | null;
  readonly account: AcmeAccount | null;
  /** The node ordering now, if any: nobody else orders before it expires. */
  readonly lease: AcmeLease | null;
  /** HTTP-01 tokens every node's proxy answers, by token, sorted. */
  readonly challenges: readonly AcmeChallenge[];
  /** One record per host ever ordered for, sorted by host. */
  readonly certificates: readonly FsmCertificate[];
}

export interface AcmeSettings {
  readonly directoryUrl: string;
  readonly email: string | null;
  /** PEM of the CA the directory's own TLS is checked against; null: the system's. */
  readonly caBundlePem: string | null;
}

/** The ACME account: its key encrypted under the cluster key, like a secret. */
export interface AcmeAccount {
  readonly directoryUrl: string;
  readonly keyCiphertext: string;
  readonly keyNonce: string;
  readonly accountUrl: string | null;
}

export interface AcmeLease {
  readonly holder: NodeId;
  readonly host: string;
  readonly acquiredAtMs: number;
  readonly expiresAtMs: number;
}

export interface AcmeChallenge {
  readonly token: string;
  readonly keyAuthorization: string;
  readonly host: string;
  readonly atMs: number;
}

/** A host's certificate and its ordering history (proxy/acme's host state). */
export interface FsmCertificate {
  readonly host: string;
  /** What is served; null until the first order succeeded. */
  readonly served: ServedCertificate | null;
  /** Failed orders since the last success. */
  readonly failures: number;
  readonly lastAttemptMs: number | null;
  readonly retryAfterUntilMs: number | null;
  readonly lastError: CertificateError | null;
}

export interface ServedCertificate {
  readonly chainPem: string;
  /** The private key (PEM) encrypted under the cluster key, base64. */
  readonly keyCiphertext: string;
  readonly keyNonce: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly issuer: string;
  readonly storedAtMs: number;
}

export interface CertificateError {
  readonly kind: string;
  readonly message: string;
  readonly atMs: number;
}

export const EMPTY_ACME: AcmeState = {
  settings: null,
  account: null,
  lease: null,
  challenges: [],
  certificates: [],
};

/** The rotated API tokens, by kind, as hashes. */
export interface ClusterTokens {
  readonly admin: string | null;
  readonly join: string | null;
}

export const NO_ROTATED_TOKENS: ClusterTokens = { admin: null, join: null };

/** The pool host ports are mapped from, on every node (inclusive). */
export const HOST_PORT_MIN = 20000;
export const HOST_PORT_MAX = 29999;

export const EMPTY_CONFIG: ClusterConfig = { services: {}, tasks: {} };

/** The state of a cluster before its first command. */
export function emptyState(): ClusterState {
  return {
    config: EMPTY_CONFIG,
    nodes: PMap.empty(),
    allocs: PMap.empty(),
    secrets: PMap.empty(),
    volumes: PMap.empty(),
    deploys: [],
    tokens: NO_ROTATED_TOKENS,
    network: null,
    removedNodes: [],
    acme: EMPTY_ACME,
  };
}

/**
 * The legal moves of the lifecycle. Forward: pulling → starting → running →
 * healthy. Any live status may end in stopped or failed (pull failure,
 * kill, exit). A container that exited and waits in its restart backoff is
 * `restarting` (from starting, running or healthy: never healthy while
 * nothing runs), and leaves it for starting when the node tries again.
 * Two moves go back besides: running/healthy → starting (the node
 * restarted the container under its restart policy; `restarts` counts
 * every move into starting but the first) and healthy → running (health
 * checks failing). Stopped and failed are terminal: nothing leaves them.
 */
export const ALLOC_TRANSITIONS: Readonly<
  Record<AllocStatus, readonly AllocStatus[]>
> = {
  pulling: ["starting", "stopped", "failed"],
  starting: ["running", "restarting", "stopped", "failed"],
  running: ["healthy", "starting", "restarting", "stopped", "failed"],
  healthy: ["running", "starting", "restarting", "stopped", "failed"],
  restarting: ["starting", "stopped", "failed"],
  stopped: [],
  failed: [],
};

export function isTerminal(status: AllocStatus): boolean {
  return status === "stopped" || status === "failed";
}

/** Ready, not draining: the scheduler may place new work here. */
export function isSchedulable(node: FsmNode): boolean {
  return node.status === "ready" && !node.draining && node.containers;
}

/** Cores as written in config (0.5) to millicores (500). */
export function cpuMillisOf(cpu: number): number {
  return Math.round(cpu * 1000);
}
