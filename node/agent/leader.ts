/**
 * What the Raft leader does besides answering the API: it lends the deploy
 * coordinator its `DeployContext`, commits the nodes' registrations and
 * heartbeats, declares nodes down after missed heartbeats (then asks the
 * coordinator to replace their allocs), brings returning nodes back up and
 * stops the containers they still run that the cluster moved elsewhere.
 *
 * One `LeaderDuties` per agent; `tick()` notices leadership changes. A new
 * term gets a new coordinator, which first recovers deploys in flight.
 */
import type { RaftNode } from "../../raft/mod.ts";
import {
  type AllocReport,
  allocsToStop,
  type ClusterState,
  type Command,
  encodeCommand,
  type EntryApplied,
  type FsmNode,
  isTerminal,
  type NodeId,
  type NodeRegisterCommand,
  staleNodes,
} from "../../raft/mod.ts";
import type {
  CommitResult,
  Coordinator,
  DeployContext,
} from "../deploy/mod.ts";
import { RpcClient, type SecondaryRuntime } from "../rpc/mod.ts";
import type { EncryptedSecret } from "../secrets/mod.ts";
import type { FsmMachine } from "./fsm_machine.ts";
import { HealthKeeper } from "./health_keeper.ts";

/** The node label holding its peer (Raft + RPC) `host:port`. */
export const PEER_LABEL = "mill.peer";
/** The node label holding its API URL (primaries only). */
export const API_LABEL = "mill.api";
/** Default time without heartbeats before a node is declared down. */
export const HEARTBEAT_TIMEOUT_MS_DEFAULT = 15_000;
/** A container a node runs but should not is stopped once seen this long. */
export const STRAY_GRACE_MS = 5_000;
/** Stop grace for strays. */
const STRAY_STOP_GRACE_MS = 10_000;

export type LogLevel = "info" | "warn" | "error";

export interface LeaderOptions {
  readonly raft: RaftNode;
  readonly fsm: FsmMachine;
  readonly nodeId: NodeId;
  readonly rpcToken: string;
  /** This node's runtime when it is also a secondary. */
  readonly localRuntime: SecondaryRuntime | null;
  readonly heartbeatTimeoutMs: number;
  readonly coordinatorFactory: ((context: DeployContext) => Coordinator) | null;
  readonly log: (level: LogLevel, message: string) => void;
  readonly nowMs?: () => number;
}

/** What a node sends with each heartbeat. */
export interface HeartbeatMessage {
  readonly nodeId: NodeId;
  readonly statuses: readonly AllocReport[];
  /** The allocs whose containers run there now. */
  readonly running: readonly string[];
}

/** Why a node message was refused by the leader. */
export class NodeMessageError extends Error {
  override name = "NodeMessageError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class LeaderDuties {
  readonly #options: LeaderOptions;
  readonly #nowMs: () => number;
  readonly #clients = new Map<string, RpcClient>();
  readonly #strays = new Map<string, number>();
  readonly #replacing = new Set<Promise<void>>();
  #coordinator: Coordinator | null = null;
  #leaderTerm: number | null = null;
  #leaderSinceMs = 0;
  #recovered: Promise<void> = Promise.resolve();
  #checking = false;
  readonly #keeper: HealthKeeper;

  constructor(options: LeaderOptions) {
    this.#options = options;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#keeper = new HealthKeeper({
      state: () => options.fsm.state,
      commit: (command) => this.commit(command),
      probeHost: (nodeId) => this.probeHost(nodeId),
      log: (message) => options.log("warn", message),
      nowMs: this.#nowMs,
    });
  }

  get isLeader(): boolean {
    return this.#options.raft.status.role === "leader";
  }

  /** The coordinator of this term, once leader (null without a factory). */
  get coordinator(): Coordinator | null {
    this.#noticeRole(); // a leader of a few ms gets its coordinator now
    return this.#coordinator;
  }

  /** Settles once the new leader recovered the deploys in flight. */
  get recovered(): Promise<void> {
    this.#noticeRole();
    return this.#recovered;
  }

  /** Notices leadership changes and runs the periodic checks; call often. */
  tick(): void {
    const leading = this.#noticeRole();
    if (leading && this.#coordinator !== null) this.#keeper.tick();
    if (leading && !this.#checking) {
      this.#checking = true;
      void this.#checkStaleNodes().finally(() => this.#checking = false);
    }
  }

  #noticeRole(): boolean {
    const status = this.#options.raft.status;
    const leading = status.role === "leader";
    if (leading && this.#leaderTerm !== status.term) {
      this.#becomeLeader(status.term);
    } else if (!leading && this.#leaderTerm !== null) {
      void this.#stepDown();
    }
    return leading;
  }

  /** Proposes `command`; throws (RaftError) when not leader. */
  async commit(command: Command): Promise<CommitResult> {
    const { result } = await this.#options.raft.propose(encodeCommand(command));
    const applied = result as EntryApplied;
    switch (applied.outcome) {
      case "applied":
        return { ok: true, state: applied.state };
      case "rejected":
        return { ok: false, rejection: applied.rejection };
      case "skipped":
        throw new Error("a proposed command was skipped by the FSM");
    }
  }

  /** A node (re-)registers: `NodeRegister`, then it is ready. */
  async register(
    command: Omit<NodeRegisterCommand, "type" | "atMs">,
  ): Promise<void> {
    const result = await this.commit({
      type: "NodeRegister",
      ...command,
      atMs: this.#nowMs(),
    });
    if (!result.ok) {
      throw new NodeMessageError(
        result.rejection.code,
        result.rejection.message,
      );
    }
  }

  /** A heartbeat: `NodeUp` first if the node was down, then `NodeHeartbeat`. */
  async heartbeat(message: HeartbeatMessage): Promise<void> {
    const node = this.#options.fsm.state.nodes.get(message.nodeId);
    if (node === undefined) {
      throw new NodeMessageError(
        "node.unknown",
        `Node "${message.nodeId}" is not registered; register first`,
      );
    }
    if (node.status === "down") {
      const up = await this.commit({
        type: "NodeUp",
        nodeId: message.nodeId,
        atMs: this.#nowMs(),
      });
      if (up.ok) this.#options.log("info", `node ${node.name} is back up`);
    }
    const result = await this.commit({
      type: "NodeHeartbeat",
      nodeId: message.nodeId,
      statuses: message.statuses,
      atMs: this.#nowMs(),
    });
    if (!result.ok) {
      throw new NodeMessageError(
        result.rejection.code,
        result.rejection.message,
      );
    }
    this.#stopStrays(result.state, message);
  }

  /** The runtime of `nodeId`: in-process for this node, RPC for others. */
  runtime(nodeId: NodeId): SecondaryRuntime {
    if (
      nodeId === this.#options.nodeId && this.#options.localRuntime !== null
    ) {
      return this.#options.localRuntime;
    }
    const node = this.#options.fsm.state.nodes.get(nodeId);
    const peer = node === undefined ? null : peerAddressOf(node);
    const url = `http://${peer ?? "unknown.invalid:1"}`;
    let client = this.#clients.get(url);
    if (client === undefined) {
      client = new RpcClient(url, { token: this.#options.rpcToken });
      this.#clients.set(url, client);
    }
    return client;
  }

  /** The host health checks of `nodeId`'s containers go to. */
  probeHost(nodeId: NodeId): string {
    if (nodeId === this.#options.nodeId) return "127.0.0.1";
    return this.#options.fsm.state.nodes.get(nodeId)?.address ?? "127.0.0.1";
  }

  /** The context lent to the coordinator. */
  deployContext(): DeployContext {
    const fsm = this.#options.fsm;
    return {
      state: () => fsm.state,
      commit: (command) => this.commit(command),
      runtime: (nodeId) => this.runtime(nodeId),
      encryptedSecret: (name): EncryptedSecret | undefined => {
        const secret = fsm.state.secrets.get(name);
        return secret === undefined
          ? undefined
          : { ciphertext: secret.ciphertext, nonce: secret.nonce };
      },
      nowMs: () => this.#nowMs(),
      newId: () => randomId(),
      probeHost: (nodeId) => this.probeHost(nodeId),
      log: (level, message) => this.#options.log(level, message),
    };
  }

  /** Stops the coordinator and closes RPC clients. */
  async close(): Promise<void> {
    await this.#stepDown();
    await Promise.allSettled([...this.#replacing]);
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #becomeLeader(term: number): void {
    this.#leaderTerm = term;
    this.#leaderSinceMs = this.#nowMs();
    this.#strays.clear();
    this.#options.log("info", `leader for term ${term}`);
    const previous = this.#coordinator;
    this.#coordinator = null;
    void previous?.close();
    const factory = this.#options.coordinatorFactory;
    if (factory === null) return;
    const coordinator = factory(this.deployContext());
    this.#coordinator = coordinator;
    this.#recovered = coordinator.recoverInFlight().catch((error) =>
      this.#options.log("error", `recovering deploys in flight: ${error}`)
    );
  }

  async #stepDown(): Promise<void> {
    if (this.#leaderTerm !== null) {
      this.#options.log("info", `no longer leader (term ${this.#leaderTerm})`);
    }
    this.#leaderTerm = null;
    const coordinator = this.#coordinator;
    this.#coordinator = null;
    await this.#keeper.close();
    await coordinator?.close();
  }

  async #checkStaleNodes(): Promise<void> {
    const nowMs = this.#nowMs();
    // A new leader gives every node one full timeout to reach it.
    if (nowMs - this.#leaderSinceMs < this.#options.heartbeatTimeoutMs) return;
    const stale = staleNodes(this.#options.fsm.state, {
      nowMs,
      heartbeatTimeoutMs: this.#options.heartbeatTimeoutMs,
    });
    for (const node of stale) await this.#nodeDown(node, nowMs);
  }

  async #nodeDown(node: FsmNode, nowMs: number): Promise<void> {
    const seconds = Math.round((nowMs - node.lastHeartbeatMs) / 1000);
    try {
      const result = await this.commit({
        type: "NodeDown",
        nodeId: node.id,
        reason: `no heartbeat for ${seconds} s`,
        atMs: nowMs,
      });
      if (!result.ok) return;
    } catch (error) {
      this.#options.log("warn", `cannot declare ${node.name} down: ${error}`);
      return;
    }
    this.#options.log(
      "warn",
      `node ${node.name} is down (no heartbeat for ${seconds} s)`,
    );
    const coordinator = this.#coordinator;
    if (coordinator === null) return;
    const replacing = coordinator.replaceFailedNode(node.id).catch((error) =>
      this.#options.log(
        "error",
        `replacing the allocs of ${node.name}: ${error}`,
      )
    );
    this.#replacing.add(replacing);
    void replacing.finally(() => this.#replacing.delete(replacing));
  }

  /**
   * Containers a node runs that the cluster does not want there (unknown,
   * placed elsewhere, or ended — e.g. failed while the node was down and
   * since replaced) are stopped once they have been reported for
   * `STRAY_GRACE_MS`; allocs the coordinator is stopping are left to it.
   */
  #stopStrays(state: ClusterState, message: HeartbeatMessage): void {
    const nowMs = this.#nowMs();
    const strays = new Set(
      allocsToStop(state, message.nodeId, message.running).filter((id) => {
        // A live alloc asked to stop is the coordinator's to stop.
        const alloc = state.allocs.get(id);
        return alloc === undefined || alloc.nodeId !== message.nodeId ||
          isTerminal(alloc.status);
      }),
    );
    for (const allocId of message.running) {
      const key = `${message.nodeId}/${allocId}`;
      if (!strays.has(allocId)) {
        this.#strays.delete(key);
        continue;
      }
      const firstSeenMs = this.#strays.get(key) ?? nowMs;
      this.#strays.set(key, firstSeenMs);
      if (nowMs - firstSeenMs < STRAY_GRACE_MS) continue;
      this.#strays.delete(key);
      this.#options.log(
        "info",
        `stopping stray alloc ${allocId} on ${message.nodeId}`,
      );
      void this.runtime(message.nodeId).stop(
        { allocId, signal: "SIGTERM", gracePeriodMs: STRAY_STOP_GRACE_MS },
        AbortSignal.timeout(STRAY_STOP_GRACE_MS + 20_000),
      ).catch((error) =>
        this.#options.log(
          "warn",
          `cannot stop stray alloc ${allocId}: ${error}`,
        )
      );
    }
  }
}

/** A node's peer `host:port`, from its label (or its address and the default port). */
export function peerAddressOf(node: FsmNode): string | null {
  return node.labels[PEER_LABEL] ?? null;
}

function randomId(): string {
  return [...crypto.getRandomValues(new Uint8Array(5))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
