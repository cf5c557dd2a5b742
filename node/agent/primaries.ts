/**
 * What primaries need of each other: every primary's peer URL for Raft
 * (learned from the FSM: a primary registers with its API and peer labels),
 * a node link that reaches the leader wherever it is, and the promotion of
 * a joined primary from learner to voter once it has caught up.
 */
import type { RaftNode } from "../../raft/mod.ts";
import type { FsmMachine } from "./fsm_machine.ts";
import {
  API_LABEL,
  type LeaderDuties,
  type LogLevel,
  NodeMessageError,
  PEER_LABEL,
} from "./leader.ts";
import type { LeaderChannel } from "./node_link.ts";
import { remoteChannel } from "./peer.ts";

/** How often a joined primary checks whether it may ask for promotion. */
export const PROMOTION_POLL_MS = 100;
/** A joined primary stops asking after this many polls (10 minutes). */
export const PROMOTION_POLLS_MAX = 6_000;

/** Keeps Raft's peer URLs in step with the primaries in the FSM; returns the unsubscribe. */
export function trackPrimaryPeers(
  fsm: FsmMachine,
  raft: RaftNode,
  selfId: string,
): () => void {
  const learn = (id: string, labels: Readonly<Record<string, string>>) => {
    const peer = labels[PEER_LABEL];
    if (
      id === selfId || peer === undefined || labels[API_LABEL] === undefined
    ) {
      return;
    }
    raft.setPeer(id, `http://${peer}`);
  };
  for (const node of fsm.state.nodes.values()) learn(node.id, node.labels);
  const unsubscribe = fsm.onApplied((applied) => {
    if (applied.outcome !== "applied") return;
    const command = applied.command;
    if (command.type === "NodeRegister") learn(command.nodeId, command.labels);
  });
  return () => void unsubscribe();
}

/** A primary's own node link: in-process when it leads, else to the leader's peer port. */
export function primaryChannel(
  leader: LeaderDuties,
  fsm: FsmMachine,
  raft: RaftNode,
  rpcToken: string,
): LeaderChannel {
  const remote = () => {
    const leaderId = raft.status.leader;
    const peer = leaderId === null
      ? undefined
      : fsm.state.nodes.get(leaderId)?.labels[PEER_LABEL];
    if (peer === undefined) {
      throw new NodeMessageError("raft.not_leader", "No leader known yet");
    }
    return remoteChannel([peer], rpcToken);
  };
  return {
    register: (command) =>
      leader.isLeader ? leader.register(command) : remote().register(command),
    heartbeat: (message) =>
      leader.isLeader ? leader.heartbeat(message) : remote().heartbeat(message),
  };
}

export interface PromotionOptions {
  readonly raft: RaftNode;
  readonly nodeId: string;
  /** The leader's commit index when this node was added. */
  readonly commitIndex: number;
  /** Member id → peer URL, from the join grant. */
  readonly members: Readonly<Record<string, string>>;
  readonly rpcToken: string;
  readonly signal: AbortSignal;
  readonly log: (level: LogLevel, message: string) => void;
}

/**
 * Once this learner has applied what the leader had committed when it was
 * added, asks the leader to promote it; ends when it is a voter.
 */
export async function requestPromotion(
  options: PromotionOptions,
): Promise<void> {
  let askedAtMs = 0;
  for (let poll = 0; poll < PROMOTION_POLLS_MAX; poll++) {
    if (options.signal.aborted) return;
    const status = options.raft.status;
    if (status.applied >= options.commitIndex && status.leader !== null) {
      if (status.role !== "learner") {
        if (askedAtMs > 0) options.log("info", "promoted to voter");
        return;
      }
      if (Date.now() - askedAtMs > 1_000) {
        askedAtMs = Date.now();
        const url = options.members[status.leader];
        if (url !== undefined) {
          await fetch(`${url}/peer/v1/promote`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${options.rpcToken}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({ nodeId: options.nodeId }),
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
