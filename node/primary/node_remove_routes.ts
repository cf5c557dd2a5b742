/**
 * `DELETE /v1/nodes/:name` (admin, answered by the leader): takes a node out
 * of the cluster for good. Its Raft membership goes first (a primary stops
 * counting towards the quorum), then `NodeRemove` deletes it from the state,
 * so every node drops its WireGuard peer, its routes and its DNS names.
 *
 * Only a node that can no longer run anything is removed: one that is down,
 * or drained with no active allocation, and never the leader itself. The
 * FSM's own refusals (active allocations, attached volumes) are checked on
 * the current state before the membership changes, and both steps are
 * idempotent, so a remove cut short is finished by asking again.
 */
import {
  apply,
  type ClusterState,
  type Command,
  type FsmNode,
  type Membership,
} from "../../raft/mod.ts";
import { ApiError, type Handler, jsonResponse } from "../api/mod.ts";
import type { CommitResult } from "../deploy/mod.ts";

export interface NodeRemoveOptions {
  state(): ClusterState;
  /** This leader's node id. */
  selfId(): string;
  membership(): Membership;
  /** Proposes `remove` of a Raft member and resolves once it applied. */
  removeMember(id: string): Promise<void>;
  commit(command: Command): Promise<CommitResult>;
  readonly nowMs: () => number;
  log(message: string): void;
}

/** What removing a node did: `{ name, id, wasMember }`. */
export interface NodeRemoved {
  readonly name: string;
  readonly id: string;
  /** It was a Raft voter or learner, and no longer is. */
  readonly wasMember: boolean;
}

/** The handler of `DELETE /v1/nodes/:name`. */
export function removeNodeHandler(options: NodeRemoveOptions): Handler {
  return async (request, context) => {
    await request.body?.cancel();
    const name = context.params.name ?? "";
    const state = options.state();
    const node = [...state.nodes.values()].find((n) => n.name === name);
    if (node === undefined) {
      throw new ApiError(404, "node.not_found", `No node named "${name}"`);
    }
    const refusal = removalRefusal(
      state,
      node,
      options.selfId(),
      options.nowMs(),
    );
    if (refusal !== null) {
      throw new ApiError(409, refusal.code, refusal.message);
    }
    const wasMember = isMember(options.membership(), node.id);
    if (wasMember) {
      try {
        await options.removeMember(node.id);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw new ApiError(
          409,
          typeof code === "string" ? code : "raft.error",
          `Could not take ${node.name} out of the Raft membership: ${
            (error as Error).message
          }; try again once the cluster has a settled leader`,
          { cause: error },
        );
      }
      options.log(`removed ${node.name} (${node.id}) from the Raft membership`);
    }
    const result = await options.commit({
      type: "NodeRemove",
      nodeId: node.id,
      atMs: options.nowMs(),
    });
    if (!result.ok) {
      throw new ApiError(409, result.rejection.code, result.rejection.message);
    }
    options.log(`removed node ${node.name} (${node.id})`);
    const removed: NodeRemoved = { name: node.name, id: node.id, wasMember };
    return jsonResponse(removed);
  };
}

/**
 * Why `node` may not be removed now, or null. Pure: the rules the handler
 * applies before touching the membership, the FSM's included.
 */
export function removalRefusal(
  state: ClusterState,
  node: FsmNode,
  selfId: string,
  nowMs: number,
): { code: string; message: string } | null {
  if (node.id === selfId) {
    return {
      code: "node.remove_leader",
      message:
        `${node.name} leads the cluster and cannot remove itself; stop it, and remove it from another primary once a new leader is elected`,
    };
  }
  // The FSM's own refusals first: "node still has active allocations".
  const applied = apply(state, {
    type: "NodeRemove",
    nodeId: node.id,
    atMs: nowMs,
  });
  if (!applied.ok) return applied.rejection;
  if (node.status === "ready" && !node.draining) {
    return {
      code: "node.remove_ready",
      message:
        `${node.name} is ready and may run allocations; drain it first (mill drain ${node.name}) or stop its agent`,
    };
  }
  return null;
}

function isMember(membership: Membership, id: string): boolean {
  return membership.voters.includes(id) || membership.learners.includes(id);
}
