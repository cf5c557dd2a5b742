/**
 * Nodes that stopped sending heartbeats are declared down (`NodeDown`) and
 * their allocs replaced by the deploy coordinator. A new leader first gives
 * every node one full timeout to reach it.
 */
import {
  type ClusterState,
  type Command,
  type FsmNode,
  staleNodes,
} from "../../../raft/mod.ts";
import type { CommitResult, Coordinator } from "../../deploy/mod.ts";
import type { LeaderService, LeaderTerm } from "./leadership.ts";

/** Default time without heartbeats before a node is declared down. */
export const HEARTBEAT_TIMEOUT_MS_DEFAULT = 15_000;

export interface StaleNodesOptions {
  state(): ClusterState;
  commit(command: Command): Promise<CommitResult>;
  /** This term's coordinator, which replaces a dead node's allocs. */
  coordinator(): Coordinator | null;
  readonly heartbeatTimeoutMs: number;
  readonly checkEveryMs: number;
  /** The leader's own node id: the node running this duty is not down. */
  selfId?(): string;
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class StaleNodes implements LeaderService {
  readonly name = "stale-nodes";
  readonly #options: StaleNodesOptions;
  readonly #replacing = new Set<Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  constructor(options: StaleNodesOptions) {
    this.#options = options;
  }

  lead(term: LeaderTerm): void {
    const leaderSinceMs = this.#options.nowMs();
    // Runs until stepDown(): one check per period, never two at once.
    this.#timer = setInterval(() => {
      if (this.#checking || term.signal.aborted) return;
      this.#checking = true;
      void this.#check(leaderSinceMs, term.signal).finally(() =>
        this.#checking = false
      );
    }, this.#options.checkEveryMs);
  }

  async stepDown(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#replacing]);
  }

  async #check(leaderSinceMs: number, signal: AbortSignal): Promise<void> {
    const nowMs = this.#options.nowMs();
    const timeoutMs = this.#options.heartbeatTimeoutMs;
    if (nowMs - leaderSinceMs < timeoutMs) return;
    const stale = staleNodes(this.#options.state(), {
      nowMs,
      heartbeatTimeoutMs: timeoutMs,
    });
    const self = this.#options.selfId?.();
    for (const node of stale) {
      if (signal.aborted) return;
      if (node.id === self) continue;
      await this.#nodeDown(node, nowMs);
    }
  }

  async #nodeDown(node: FsmNode, nowMs: number): Promise<void> {
    const seconds = Math.round((nowMs - node.lastHeartbeatMs) / 1000);
    try {
      const result = await this.#options.commit({
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
    const coordinator = this.#options.coordinator();
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
}
