/**
 * A primary's Raft member: the cluster FSM behind a `RaftNode` on the
 * node's data dir, its traffic on the peer port (`/raft/…`, raft scope),
 * and the other primaries' peer URLs kept in step with the FSM. A joined
 * primary starts with no membership: it follows the leader as a learner
 * until promoted, and never campaigns before that.
 */
import {
  type FsmNode,
  MESSAGES_PATH,
  RaftNode,
  SNAPSHOT_PATH,
  STREAM_PATH,
} from "../../raft/mod.ts";
import { ApiError, type Handler, type Router } from "../api/mod.ts";
import { FsmMachine } from "./fsm_machine.ts";
import { loadRaftJoin } from "./join_primary.ts";
import type { Service } from "./supervisor.ts";

export interface RaftMemberOptions {
  readonly dataDir: string;
  nodeId(): string;
  /** The node's peer client (its certificate), Raft's own requests go through. */
  peerClient(): Deno.HttpClient;
  readonly peerRouter: Router;
  /** `host:port` to call a node's peer port on (through the mesh when it can); default its registered one. */
  peerEndpoint?(node: FsmNode): string | null;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/**
 * Largest Raft request body a member may send (a batch of entries or a
 * snapshot of the cluster state): far above what a 20-node, 50-service
 * cluster's state takes, far below what would hurt a node to buffer.
 */
export const RAFT_BODY_BYTES_MAX = 64 * 1024 * 1024;

/** What a joined primary was told when it was added as a learner. */
export interface RaftJoinGrant {
  readonly members: Readonly<Record<string, string>>;
  readonly commitIndex: number;
}

export class RaftMember implements Service {
  readonly name = "raft";
  readonly fsm = new FsmMachine();
  readonly #options: RaftMemberOptions;
  readonly #roleListeners = new Set<() => void>();
  #raft: RaftNode | null = null;
  #join: RaftJoinGrant | null = null;
  #cleanups: (() => void)[] = [];

  constructor(options: RaftMemberOptions) {
    this.#options = options;
  }

  /** The Raft node (valid once started). */
  get raft(): RaftNode {
    if (this.#raft === null) throw new Error("raft is not started");
    return this.#raft;
  }

  /** The join grant of a joined primary not yet a voter at start; else null. */
  get joinGrant(): RaftJoinGrant | null {
    return this.#join;
  }

  /** Called on every change of role, leader or term; returns the unsubscribe. */
  onRoleChange(listener: () => void): () => void {
    this.#roleListeners.add(listener);
    return () => this.#roleListeners.delete(listener);
  }

  async start(): Promise<void> {
    const selfId = this.#options.nodeId();
    const join = await loadRaftJoin(this.#options.dataDir);
    this.#join = join;
    const raft = await RaftNode.start({
      id: selfId,
      dataDir: `${this.#options.dataDir}/raft`,
      peers: new Map(
        Object.entries(join?.members ?? {}).filter(([id]) => id !== selfId),
      ),
      initialMembership: join === null
        ? { voters: [selfId], learners: [] }
        : { voters: [], learners: [] },
      stateMachine: this.fsm,
      transport: {
        client: this.#options.peerClient(),
        bodyBytesMax: RAFT_BODY_BYTES_MAX,
      },
      ...(this.#options.tickMs === undefined
        ? {}
        : { tickMs: this.#options.tickMs }),
      ...(this.#options.electionTicks === undefined
        ? {}
        : { electionTicks: this.#options.electionTicks }),
      onFatal: (error) => this.#options.log("error", `raft stopped: ${error}`),
      log: (level, message) => this.#options.log(level, `raft: ${message}`),
      onRoleChange: () => {
        for (const listener of this.#roleListeners) listener();
      },
    });
    this.#raft = raft;
    const handle: Handler = async (request, context) => {
      // The frame let only certified peers through: the sender is the caller.
      const sender = context.caller?.nodeId;
      if (sender === undefined || sender === null) {
        throw new ApiError(403, "api.forbidden", "Raft needs a member node");
      }
      const response = await raft.handle(request, { sender });
      if (response === null) {
        throw new ApiError(404, "api.not_found", "No such Raft endpoint");
      }
      return response;
    };
    const router = this.#options.peerRouter;
    this.#cleanups = [
      router.mount("POST", MESSAGES_PATH, handle, { scope: "raft" }),
      router.mount("POST", SNAPSHOT_PATH, handle, { scope: "raft" }),
      router.mount("POST", STREAM_PATH, handle, { scope: "raft" }),
      this.#trackPrimaryPeers(),
    ];
  }

  async stop(): Promise<void> {
    for (const cleanup of this.#cleanups.reverse()) cleanup();
    this.#cleanups = [];
    const raft = this.#raft;
    this.#raft = null;
    await raft?.stop();
  }

  /** Re-addresses every primary (this node's mesh route changed). */
  refreshPeers(): void {
    if (this.#raft === null) return;
    for (const node of this.fsm.state.nodes.values()) this.#learn(node);
  }

  #learn(node: FsmNode): void {
    const raft = this.#raft;
    if (raft === null || node.id === this.#options.nodeId()) return;
    if (node.endpoints.api === null) return; // not a primary
    const peer = this.#options.peerEndpoint?.(node) ?? node.endpoints.peer;
    if (peer !== null) raft.setPeer(node.id, `https://${peer}`);
  }

  /** Keeps Raft's peer URLs in step with the primaries in the FSM. */
  #trackPrimaryPeers(): () => void {
    this.refreshPeers();
    return this.fsm.onApplied((applied) => {
      if (applied.outcome !== "applied") return;
      const command = applied.command;
      if (command.type === "NodeRegister") {
        const node = this.fsm.state.nodes.get(command.nodeId);
        if (node !== undefined) this.#learn(node);
      }
    });
  }
}
