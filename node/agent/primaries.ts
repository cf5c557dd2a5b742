/**
 * What primaries need of each other besides Raft: a node link that reaches
 * the leader wherever it is, and the promotion of a joined primary from
 * learner to voter once it has caught up.
 */
import type { ClusterState, FsmNode, RaftNode } from "../../raft/mod.ts";
import { type LeaderChannel, NodeMessageError } from "./channel.ts";
import type { NodeMessages } from "./leader/node_messages.ts";
import type { RaftJoinGrant } from "./raft_member.ts";
import { remoteChannel } from "./remote_channel.ts";
import type { Service } from "./supervisor.ts";

/** How often a joined primary checks whether it may ask for promotion. */
export const PROMOTION_POLL_MS = 100;
/** A joined primary stops asking after this many polls (10 minutes). */
export const PROMOTION_POLLS_MAX = 6_000;

/** A primary's own node link: in-process when it leads, else to the leader's peer port. */
export function primaryChannel(options: {
  isLeader(): boolean;
  readonly messages: NodeMessages;
  raft(): RaftNode;
  state(): ClusterState;
  peerClient(): Deno.HttpClient;
  /** `host:port` to call a node's peer port on (through the mesh when it can). */
  peerEndpoint(node: FsmNode): string | null;
}): LeaderChannel {
  const remote = () => {
    const leaderId = options.raft().status.leader;
    const leader = leaderId === null
      ? undefined
      : options.state().nodes.get(leaderId);
    const peer = leader === undefined ? null : options.peerEndpoint(leader);
    if (peer === null) {
      throw new NodeMessageError("raft.not_leader", "No leader known yet");
    }
    return remoteChannel(() => [peer], options.peerClient);
  };
  return {
    register: (registration) =>
      options.isLeader()
        ? options.messages.register(registration)
        : remote().register(registration),
    heartbeat: (message) =>
      options.isLeader()
        ? options.messages.heartbeat(message)
        : remote().heartbeat(message),
  };
}

export interface PromotionOptions {
  raft(): RaftNode;
  nodeId(): string;
  /** The join grant; null for a node that needs no promotion. */
  grant(): RaftJoinGrant | null;
  peerClient(): Deno.HttpClient;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** Asks the leader for promotion until this joined primary is a voter. */
export class Promotion implements Service {
  readonly name = "promotion";
  readonly #options: PromotionOptions;
  #controller = new AbortController();
  #running: Promise<void> = Promise.resolve();

  constructor(options: PromotionOptions) {
    this.#options = options;
  }

  start(): Promise<void> {
    const grant = this.#options.grant();
    if (grant === null) return Promise.resolve();
    this.#controller = new AbortController();
    this.#running = requestPromotion(
      grant,
      this.#options,
      this.#controller.signal,
    );
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#running;
  }
}

/**
 * Once this learner has applied what the leader had committed when it was
 * added, asks the leader to promote it; ends when it is a voter.
 */
async function requestPromotion(
  grant: RaftJoinGrant,
  options: PromotionOptions,
  signal: AbortSignal,
): Promise<void> {
  let askedAtMs = 0;
  for (let poll = 0; poll < PROMOTION_POLLS_MAX; poll++) {
    if (signal.aborted) return;
    const status = options.raft().status;
    if (status.applied >= grant.commitIndex && status.leader !== null) {
      if (status.role !== "learner") {
        if (askedAtMs > 0) options.log("info", "promoted to voter");
        return;
      }
      if (Date.now() - askedAtMs > 1_000) {
        askedAtMs = Date.now();
        const url = grant.members[status.leader];
        if (url !== undefined) {
          await fetch(`${url}/peer/v1/promote`, {
            method: "POST",
            client: options.peerClient(),
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ nodeId: options.nodeId() }),
            signal: AbortSignal.timeout(5_000),
          }).then((r) => r.body?.cancel()).catch((error) =>
            // Retried on the next poll.
            options.log("warn", `promotion request: ${error}`)
          );
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, PROMOTION_POLL_MS));
  }
}
