/**
 * The commands the FSM applies. Each is one Raft log entry; its `type`
 * string is on disk, so add new ones, never rename or reuse (see README.md
 * beside this file). IDs and timestamps (`atMs`) are chosen by the leader
 * before the command enters the log; `apply` never makes them up.
 */
import type { ClusterConfig } from "../../config/types.ts";
import type {
  AllocId,
  AllocStatus,
  ClusterState,
  DeployId,
  NodeId,
  WorkloadKind,
} from "./state.ts";

/** A new config becomes current; a deploy record starts `running`. */
export interface DeployCommand {
  readonly type: "Deploy";
  readonly deployId: DeployId;
  readonly config: ClusterConfig;
  readonly atMs: number;
}

/** A running deploy ends; `rolled_back` and `cancelled` restore the config before it. */
export interface DeployFinishedCommand {
  readonly type: "DeployFinished";
  readonly deployId: DeployId;
  readonly outcome: "succeeded" | "rolled_back" | "cancelled";
  readonly message: string;
  readonly atMs: number;
}

/** A node joins, or re-registers after a restart (then it is ready again). */
export interface NodeRegisterCommand {
  readonly type: "NodeRegister";
  readonly nodeId: NodeId;
  readonly millId: string;
  readonly name: string;
  readonly address: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Absent in entries written before endpoints were typed (see `legacyEndpoints`). */
  readonly endpoints?: {
    readonly peer: string;
    readonly api: string | null;
  };
  /**
   * Absent: the node runs containers on its host's network. Present: it
   * asks for a subnet of the cluster range (the first such registration,
   * from `mill init`, fixes the range), and names its WireGuard peer.
   */
  readonly network?: {
    readonly clusterRange?: string;
    readonly mesh?: {
      readonly publicKey: string;
      readonly endpoint: string;
      /** Its peer port on its mesh address, once it serves there. */
      readonly peer?: string;
    };
  };
  /** `false`: a primary-only node, on the mesh but never given allocs. Absent: true. */
  readonly containers?: false;
  readonly atMs: number;
}

/** What a node observed of one of its allocs. */
export interface AllocReport {
  readonly allocId: AllocId;
  readonly status: AllocStatus;
  readonly exitCode?: number;
  readonly message?: string;
}

/**
 * A node is alive; reported statuses that are legal moves are applied, the
 * rest (stale, unknown allocs, allocs of other nodes) ignored.
 */
export interface NodeHeartbeatCommand {
  readonly type: "NodeHeartbeat";
  readonly nodeId: NodeId;
  readonly statuses: readonly AllocReport[];
  readonly atMs: number;
}

/** Missed heartbeats: the node is down and its live allocs failed. */
export interface NodeDownCommand {
  readonly type: "NodeDown";
  readonly nodeId: NodeId;
  readonly reason: string;
  readonly atMs: number;
}

/** A down node answers again (its old allocs stay failed). */
export interface NodeUpCommand {
  readonly type: "NodeUp";
  readonly nodeId: NodeId;
  readonly atMs: number;
}

/** Mark a node unschedulable before migrating its allocs away. */
export interface NodeDrainCommand {
  readonly type: "NodeDrain";
  readonly nodeId: NodeId;
  readonly atMs: number;
}

/** Make a draining node schedulable again (`mill drain --cancel`). */
export interface NodeUndrainCommand {
  readonly type: "NodeUndrain";
  readonly nodeId: NodeId;
  readonly atMs: number;
}

/** Forget a node with no active allocs; its terminal allocs go with it. */
export interface NodeRemoveCommand {
  readonly type: "NodeRemove";
  readonly nodeId: NodeId;
  readonly atMs: number;
}

/** A placement the scheduler chose, re-checked against current state. */
export interface AllocScheduledCommand {
  readonly type: "AllocScheduled";
  readonly allocId: AllocId;
  readonly nodeId: NodeId;
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly image: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly hostPort?: number;
  /** Its container address, on its node's subnet; required when the node has one. */
  readonly ip?: string;
  readonly deployId?: DeployId;
  readonly replacesAllocId?: AllocId;
  readonly atMs: number;
}

/** One placement of an `AllocsScheduled`: an `AllocScheduled`'s alloc fields. */
export interface ScheduledPlacement {
  readonly allocId: AllocId;
  readonly nodeId: NodeId;
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly image: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly hostPort?: number;
  readonly ip?: string;
  readonly replacesAllocId?: AllocId;
}

/**
 * The placements a plan commits together (a deploy's wave), as one entry:
 * each is checked as an `AllocScheduled` against the state the ones before
 * it left, and either all are applied or none is (the rejection names the
 * placement refused, in `allocId` and its message).
 */
export interface AllocsScheduledCommand {
  readonly type: "AllocsScheduled";
  readonly placements: readonly ScheduledPlacement[];
  readonly deployId?: DeployId;
  readonly atMs: number;
}

/**
 * A deploy starts with its first wave placed: a `Deploy` and that deploy's
 * `AllocsScheduled` as one entry, so a deploy whose first wave needs
 * nothing freed first costs one Raft round. Both are applied or neither
 * (the rejection is the `Deploy`'s or the placements').
 */
export interface DeployWithWaveCommand {
  readonly type: "DeployWithWave";
  readonly deployId: DeployId;
  readonly config: ClusterConfig;
  readonly placements: readonly ScheduledPlacement[];
  readonly atMs: number;
}

/** An alloc moves along its lifecycle (see the transition table). */
export interface AllocStatusCommand {
  readonly type: "AllocStatus";
  readonly allocId: AllocId;
  readonly status: AllocStatus;
  readonly message?: string;
  readonly exitCode?: number;
  readonly atMs: number;
}

/** The container started: starting → running, with where it answers. */
export interface AllocRunningCommand {
  readonly type: "AllocRunning";
  readonly allocId: AllocId;
  /** `host:port`. */
  readonly address: string;
  readonly atMs: number;
}

/** The leader wants the alloc stopped; it leaves DNS and the proxy now. */
export interface AllocStopRequestedCommand {
  readonly type: "AllocStopRequested";
  readonly allocId: AllocId;
  readonly reason: string;
  readonly atMs: number;
}

/** Forget terminal allocs (history the leader no longer needs). */
export interface AllocsPurgedCommand {
  readonly type: "AllocsPurged";
  readonly allocIds: readonly AllocId[];
  readonly atMs: number;
}

export interface SecretSetCommand {
  readonly type: "SecretSet";
  readonly name: string;
  /** Base64; encrypted before the command is built. */
  readonly ciphertext: string;
  readonly nonce: string;
  readonly atMs: number;
}

/** The API tokens that can be rotated. */
export type TokenKind = "admin" | "join";

/**
 * A cluster token was rotated: from now on only the token with this SHA-256
 * (hex) is accepted for `kind`, on every primary. The token itself is never
 * in the log.
 */
export interface TokenRotatedCommand {
  readonly type: "TokenRotated";
  readonly kind: TokenKind;
  readonly tokenSha256: string;
  readonly atMs: number;
}

/** The cluster's ACME directory, contact and directory CA; a new directory drops the account. */
export interface AcmeSettingsSetCommand {
  readonly type: "AcmeSettingsSet";
  readonly directoryUrl: string;
  readonly email: string | null;
  readonly caBundlePem: string | null;
  readonly atMs: number;
}

/** The ACME account registered at `directoryUrl`, its key encrypted. */
export interface AcmeAccountSetCommand {
  readonly type: "AcmeAccountSet";
  readonly directoryUrl: string;
  readonly keyCiphertext: string;
  readonly keyNonce: string;
  readonly accountUrl: string | null;
  readonly atMs: number;
}

/**
 * `holder` takes the ordering lease for `host` until `expiresAtMs`
 * (refused while another holds it unexpired), or with `host` null gives
 * back the one it holds.
 */
export interface AcmeLeaseCommand {
  readonly type: "AcmeLease";
  readonly holder: NodeId;
  readonly host: string | null;
  readonly expiresAtMs: number;
  readonly atMs: number;
}

/** An HTTP-01 token for every node's proxy to answer; `keyAuthorization` null withdraws it. */
export interface AcmeChallengeCommand {
  readonly type: "AcmeChallenge";
  readonly token: string;
  readonly host: string;
  readonly keyAuthorization: string | null;
  readonly atMs: number;
}

/** A certificate issued for `host`: served from now on, its failures forgotten. */
export interface CertificateStoredCommand {
  readonly type: "CertificateStored";
  readonly host: string;
  readonly chainPem: string;
  readonly keyCiphertext: string;
  readonly keyNonce: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly issuer: string;
  readonly atMs: number;
}

/** An order for `host` failed: counted for the backoff, kept to show. */
export interface CertificateOrderFailedCommand {
  readonly type: "CertificateOrderFailed";
  readonly host: string;
  readonly kind: string;
  readonly message: string;
  readonly retryAfterUntilMs: number | null;
  readonly atMs: number;
}

export interface SecretDeleteCommand {
  readonly type: "SecretDelete";
  readonly name: string;
  readonly atMs: number;
}

/** The provider created the device; it starts detached. */
export interface VolumeCreatedCommand {
  readonly type: "VolumeCreated";
  readonly name: string;
  readonly cloudId: string;
  readonly sizeBytes?: number;
  /** The node it was created for (its region), remembered as `lastNodeId`. */
  readonly nodeId?: NodeId;
  readonly atMs: number;
}

export interface VolumeAttachedCommand {
  readonly type: "VolumeAttached";
  readonly name: string;
  readonly nodeId: NodeId;
  readonly atMs: number;
}

export interface VolumeDetachedCommand {
  readonly type: "VolumeDetached";
  readonly name: string;
  readonly atMs: number;
}

/** A detached volume is waiting to be attached on a replacement node. */
export interface VolumeReadyCommand {
  readonly type: "VolumeReady";
  readonly name: string;
  readonly atMs: number;
}

export interface VolumeDestroyedCommand {
  readonly type: "VolumeDestroyed";
  readonly name: string;
  readonly atMs: number;
}

export type Command =
  | DeployCommand
  | DeployFinishedCommand
  | NodeRegisterCommand
  | NodeHeartbeatCommand
  | NodeDownCommand
  | NodeUpCommand
  | NodeDrainCommand
  | NodeUndrainCommand
  | NodeRemoveCommand
  | AllocScheduledCommand
  | AllocsScheduledCommand
  | AllocStatusCommand
  | AllocRunningCommand
  | AllocStopRequestedCommand
  | AllocsPurgedCommand
  | SecretSetCommand
  | SecretDeleteCommand
  | TokenRotatedCommand
  | VolumeCreatedCommand
  | VolumeAttachedCommand
  | VolumeDetachedCommand
  | VolumeReadyCommand
  | VolumeDestroyedCommand
  | DeployWithWaveCommand
  | AcmeSettingsSetCommand
  | AcmeAccountSetCommand
  | AcmeLeaseCommand
  | AcmeChallengeCommand
  | CertificateStoredCommand
  | CertificateOrderFailedCommand;

export type CommandType = Command["type"];

/** Every command type, in the order of the README's table. */
export const COMMAND_TYPES: readonly CommandType[] = [
  "Deploy",
  "DeployFinished",
  "NodeRegister",
  "NodeHeartbeat",
  "NodeDown",
  "NodeUp",
  "NodeDrain",
  "NodeUndrain",
  "NodeRemove",
  "AllocScheduled",
  "AllocsScheduled",
  "AllocStatus",
  "AllocRunning",
  "AllocStopRequested",
  "AllocsPurged",
  "SecretSet",
  "SecretDelete",
  "VolumeCreated",
  "VolumeAttached",
  "VolumeDetached",
  "VolumeReady",
  "VolumeDestroyed",
  "TokenRotated",
  "DeployWithWave",
  "AcmeSettingsSet",
  "AcmeAccountSet",
  "AcmeLease",
  "AcmeChallenge",
  "CertificateStored",
  "CertificateOrderFailed",
];

/** Stable codes of the reasons a command is refused. */
export type RejectionCode =
  | "command.invalid"
  | "command.unknown_type"
  | "deploy.in_progress"
  | "deploy.exists"
  | "deploy.unknown"
  | "deploy.not_running"
  | "node.unknown"
  | "node.identity_mismatch"
  | "node.name_taken"
  | "node.removed"
  | "acme.lease_held"
  | "acme.not_lease_holder"
  | "acme.limit"
  | "node.network_mismatch"
  | "node.subnets_exhausted"
  | "node.mesh_key_taken"
  | "node.mesh_peer_invalid"
  | "node.capacity_below_reserved"
  | "node.down"
  | "node.not_down"
  | "node.draining"
  | "node.not_draining"
  | "node.no_containers"
  | "node.active_allocs"
  | "node.volumes_attached"
  | "alloc.exists"
  | "alloc.unknown"
  | "alloc.unknown_workload"
  | "alloc.insufficient_cpu"
  | "alloc.insufficient_memory"
  | "alloc.port_in_use"
  | "alloc.address_required"
  | "alloc.address_invalid"
  | "alloc.address_in_use"
  | "alloc.volume_not_attached"
  | "alloc.illegal_transition"
  | "alloc.terminal"
  | "alloc.active"
  | "secret.unknown"
  | "volume.exists"
  | "volume.unknown"
  | "volume.attached"
  | "volume.not_attached"
  | "volume.in_use"
  | "volume.not_detached";

export interface Rejection {
  readonly code: RejectionCode;
  readonly message: string;
  /** Set by a refused `AllocsScheduled`: the placement that was refused. */
  readonly allocId?: AllocId;
}

/** What `apply` returns: the next state, or why the command was refused. */
export type Applied =
  | { readonly ok: true; readonly state: ClusterState }
  | { readonly ok: false; readonly rejection: Rejection };
