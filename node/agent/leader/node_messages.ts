/**
 * The leader's side of the node messages: a registration commits
 * `NodeRegister`; a heartbeat commits `NodeUp` first when the node was
 * down, then `NodeHeartbeat`, and hands what the node said to the duties
 * that watch heartbeats (strays, the container cross-check). On a primary
 * that does not lead, both are refused with `raft.not_leader`.
 */
import type { ClusterState, Command } from "../../../raft/mod.ts";
import type { CommitResult } from "../../deploy/mod.ts";
import {
  type HeartbeatMessage,
  NodeMessageError,
  type Registration,
} from "../channel.ts";
import type { LeaderService, LeaderTerm } from "./leadership.ts";

/** What a duty watching heartbeats is told of each accepted one. */
export interface AcceptedHeartbeat {
  readonly message: HeartbeatMessage;
  /** The state right after `NodeHeartbeat` applied. */
  readonly state: ClusterState;
  /**
   * Set on the first heartbeat after the node (re-)registered or came back
   * up: the leader time of that event. Alloc statuses older than it were
   * decided before the node's agent returned.
   */
  readonly returnedAtMs: number | null;
}

export type HeartbeatObserver = (heartbeat: AcceptedHeartbeat) => void;

export interface NodeMessagesOptions {
  state(): ClusterState;
  commit(command: Command): Promise<CommitResult>;
  readonly observers: readonly HeartbeatObserver[];
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class NodeMessages implements LeaderService {
  readonly name = "node-messages";
  readonly #options: NodeMessagesOptions;
  #term: LeaderTerm | null = null;
  /** Nodes whose next heartbeat is their first since they returned. */
  readonly #returned = new Map<string, number>();

  constructor(options: NodeMessagesOptions) {
    this.#options = options;
  }

  lead(term: LeaderTerm): void {
    this.#term = term;
    this.#returned.clear();
  }

  stepDown(): Promise<void> {
    this.#term = null;
    this.#returned.clear();
    return Promise.resolve();
  }

  /** A node (re-)registers: `NodeRegister`, then it is ready. */
  async register(registration: Registration): Promise<void> {
    this.#leading();
    const atMs = this.#options.nowMs();
    const result = await this.#options.commit({
      type: "NodeRegister",
      ...registration,
      atMs,
    });
    if (!result.ok) {
      throw new NodeMessageError(
        result.rejection.code,
        result.rejection.message,
      );
    }
    this.#returned.set(registration.nodeId, atMs);
  }

  /** A heartbeat: `NodeUp` first if the node was down, then `NodeHeartbeat`. */
  async heartbeat(message: HeartbeatMessage): Promise<void> {
    this.#leading();
    const node = this.#options.state().nodes.get(message.nodeId);
    if (node === undefined) {
      throw new NodeMessageError(
        "node.unknown",
        `Node "${message.nodeId}" is not registered; register first`,
      );
    }
    if (node.status === "down") {
      const atMs = this.#options.nowMs();
      const up = await this.#options.commit({
        type: "NodeUp",
        nodeId: message.nodeId,
        atMs,
      });
      if (up.ok) {
        this.#returned.set(message.nodeId, atMs);
        this.#options.log("info", `node ${node.name} is back up`);
      }
    }
    const result = await this.#options.commit({
      type: "NodeHeartbeat",
      nodeId: message.nodeId,
      statuses: message.statuses,
      atMs: this.#options.nowMs(),
    });
    if (!result.ok) {
      throw new NodeMessageError(
        result.rejection.code,
        result.rejection.message,
      );
    }
    const returnedAtMs = this.#returned.get(message.nodeId) ?? null;
    this.#returned.delete(message.nodeId);
    const accepted = { message, state: result.state, returnedAtMs };
    for (const observe of this.#options.observers) observe(accepted);
  }

  #leading(): void {
    if (this.#term === null || this.#term.signal.aborted) {
      throw new NodeMessageError(
        "raft.not_leader",
        "This node is not the leader",
      );
    }
  }
}
