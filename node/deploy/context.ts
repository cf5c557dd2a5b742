/**
 * The deploy coordinator's ports: what the agent gives it (`DeployContext`)
 * and what it gives the agent (`Coordinator`). The coordinator runs on the
 * Raft leader; everything it learns or decides goes through `commit`, and
 * everything it asks of a node goes through `runtime(nodeId)`.
 *
 * The agent builds one `DeployContext` per leadership term (its `commit`
 * refuses once the node is no longer leader) and calls
 * `createCoordinator(context)`; a new leader calls `recoverInFlight()` first.
 */
import type { ClusterConfig } from "../../config/types.ts";
import type { ClusterState, Command, NodeId } from "../../raft/fsm/mod.ts";
import type { SecondaryRuntime } from "../rpc/mod.ts";
import type { ClusterKey, EncryptedSecret } from "../secrets/mod.ts";
import type {
  DeployEvent,
  DrainEvent,
  DrainOutcome,
  TaskEvent,
} from "./events.ts";
import type { VolumeSteps } from "./volume_steps.ts";
import type { CommitResult } from "./commit_result.ts";

export type { CommitResult } from "./commit_result.ts";

/** What the agent lends the coordinator. All methods are cheap and never block long. */
export interface DeployContext {
  /** The FSM state as this node has applied it (the leader's: up to date). */
  state(): ClusterState;
  /**
   * Proposes `command` through Raft and resolves once it is applied (or
   * refused by `apply`). Rejects (throws) only when it could not be
   * committed at all: leadership lost, shutting down. The coordinator
   * stops at once when that happens; the next leader recovers. Commands
   * enter the log in the order of the calls, awaited or not (a deploy
   * proposes its wave 1 right behind its `Deploy`).
   */
  commit(command: Command): Promise<CommitResult>;
  /** The node's secondary runtime (an `RpcClient`, or the local runner). */
  runtime(nodeId: NodeId): SecondaryRuntime;
  /** The encrypted secret as stored in the FSM, or undefined. */
  encryptedSecret(name: string): EncryptedSecret | undefined;
  /**
   * The cluster key (this node is a primary): the coordinator decrypts the
   * secrets an alloc's env references and sends their values only to the
   * node the alloc is placed on, which never holds the key.
   */
  clusterKey(): ClusterKey;
  /** Wall clock in ms (the `atMs` of commands, elapsed times). */
  nowMs(): number;
  /** A fresh id, unique in the cluster: deploy ids and alloc id prefixes. */
  newId(): string;
  /**
   * The host the leader probes a node's containers on (its mesh address;
   * `127.0.0.1` for the local node). Health checks go to
   * `probeHost(nodeId):hostPort`.
   */
  probeHost(nodeId: NodeId): string;
  /** The cluster's storage driver's steps (none: persistent volumes refused). */
  volumeSteps?(): VolumeSteps | null;
  /** Where the coordinator reports what it cannot report to a caller. */
  log?(level: "info" | "warn" | "error", message: string): void;
}

/** How a deploy ended. */
export type DeployOutcome =
  | { readonly ok: true; readonly deployId: string; readonly elapsedMs: number }
  | {
    readonly ok: false;
    readonly deployId: string | null;
    readonly code: string;
    readonly message: string;
    readonly elapsedMs: number;
  };

/** How a spawned task ended. */
export interface TaskOutcome {
  readonly allocId: string | null;
  /** The task's exit code; null when it never ran (see `code`). */
  readonly exitCode: number | null;
  /** Set when mill could not run it: `task.unknown`, `task.unplaced`, … */
  readonly code: string | null;
  readonly message: string;
}

/** The deploy coordinator, as the agent uses it. */
export interface Coordinator {
  /**
   * Rolls `config` out (seed 002) and resolves with the outcome; `onEvent`
   * sees every phase transition, ending with exactly one `done` or
   * `failed` event. Refused at once (a `failed` event, nothing started)
   * when another deploy runs or a referenced secret is missing. `signal`
   * aborting only detaches the caller: a deploy, once committed, runs on.
   */
  deploy(
    config: ClusterConfig,
    onEvent: (event: DeployEvent) => void,
    signal?: AbortSignal,
    /** What the deploy record says once it succeeds (default "deployed"). */
    note?: string,
  ): Promise<DeployOutcome>;
  /**
   * Places, pulls and starts one alloc of task `name` of the current
   * config; streams its output; resolves with its exit code. Never
   * restarted. `signal` aborting stops the task.
   */
  spawnTask(
    name: string,
    onEvent: (event: TaskEvent) => void,
    signal?: AbortSignal,
  ): Promise<TaskOutcome>;
  /**
   * After `NodeDown(nodeId)` is committed: reschedules the node's service
   * allocs elsewhere (the scheduler's node-failure plan) and waits for them
   * to be healthy. Its task allocs were failed by `NodeDown` itself.
   */
  replaceFailedNode(nodeId: NodeId): Promise<void>;
  /**
   * After `NodeDrain(nodeId)` is committed: moves the node's services
   * elsewhere one at a time and stops its tasks (`drain.ts`). Throws a
   * `DeployError` (`deploy.in_progress`) while a deploy runs.
   */
  /** Whether a storage driver runs volume steps (persistent volumes deploy). */
  readonly managesVolumes: boolean;
  drainNode(
    nodeId: NodeId,
    onEvent: (event: DrainEvent) => void,
  ): Promise<DrainOutcome>;
  /**
   * Called by a new leader before anything else: every deploy still
   * `running` in the FSM is finished (all its new allocs healthy) or rolled
   * back, so that no alloc stays `pulling` or `starting`.
   */
  recoverInFlight(): Promise<void>;
  /**
   * Stops the deploy this coordinator runs (`deployId`, or whichever when
   * null) and rolls it back like a failure, recorded `cancelled`. Returns
   * its id, or null when no such deploy runs here.
   */
  cancelDeploy(deployId: string | null, reason: string): string | null;
  /** `POST /v1/deploy`: config text in, SSE stream of `DeployEvent`s out. */
  handleDeploy(request: Request): Promise<Response>;
  /** `POST /v1/deploys/cancel` (`{}` or `{"deployId": ID}`): JSON out. */
  handleCancel(request: Request): Promise<Response>;
  /** `POST /v1/tasks` (`{"task": NAME}`): SSE stream of `TaskEvent`s out. */
  handleTask(request: Request): Promise<Response>;
  /** Stops every deploy and task watch this coordinator runs; for shutdown. */
  close(): Promise<void>;
}
