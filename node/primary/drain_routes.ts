/**
 * Draining a node (seed 001), admin, answered by the leader:
 *
 * - `POST /v1/nodes/:name/drain`: `NodeDrain` (nothing new is placed
 *   there), then the coordinator moves its services elsewhere one at a
 *   time and stops its tasks, the progress as server-sent events (`start`,
 *   `phase`…, then `done` or `failed`). The leader itself is not drained
 *   while it leads: it hands leadership to another voter first and answers
 *   503 `drain.leadership_moved`, and the CLI asks the new leader. A node
 *   already draining is drained again (what a failed drain left).
 * - `POST /v1/nodes/:name/drain/cancel`: `NodeUndrain`, schedulable again.
 */
import type { ClusterState, Command, FsmNode } from "../../raft/mod.ts";
import { ApiError, type Handler, jsonResponse, SseStream } from "../api/mod.ts";
import type { CommitResult, Coordinator } from "../deploy/mod.ts";

export interface DrainRoutesOptions {
  state(): ClusterState;
  commit(command: Command): Promise<CommitResult>;
  coordinator(): Promise<Coordinator | null>;
  selfId(): string;
  /** Voters of the Raft membership. */
  voters(): readonly string[];
  /** Asks Raft to hand leadership to `to` (throws when refused). */
  transferLeadership(to: string): void;
  readonly nowMs: () => number;
  log(message: string): void;
}

function nodeNamed(state: ClusterState, name: string): FsmNode {
  const node = [...state.nodes.values()].find((n) => n.name === name);
  if (node === undefined) {
    throw new ApiError(404, "node.not_found", `No node named "${name}"`);
  }
  return node;
}

/** `POST /v1/nodes/:name/drain`. */
export function drainHandler(options: DrainRoutesOptions): Handler {
  return async (request, context) => {
    await request.body?.cancel();
    const state = options.state();
    const node = nodeNamed(state, context.params.name ?? "");
    if (node.id === options.selfId()) moveLeadership(options, state, node);
    const coordinator = await options.coordinator();
    if (coordinator === null) {
      throw new ApiError(
        503,
        "deploy.unavailable",
        "The leader is still taking up its duties; try again in a moment",
      );
    }
    if (!node.draining) {
      const drained = await options.commit({
        type: "NodeDrain",
        nodeId: node.id,
        atMs: options.nowMs(),
      });
      if (!drained.ok) {
        throw new ApiError(
          409,
          drained.rejection.code,
          drained.rejection.message,
        );
      }
      options.log(`draining ${node.name}`);
    }
    const stream = new SseStream();
    let id = 0;
    coordinator.drainNode(node.id, (event) => {
      stream.send({ event: event.type, data: event, id: String(++id) });
      if (event.type === "done" || event.type === "failed") stream.close();
    }).catch((error) => {
      const code = (error as { code?: unknown }).code;
      stream.send({
        event: "failed",
        data: {
          type: "failed",
          node: node.name,
          code: typeof code === "string" ? code : "drain.failed",
          reason: (error as Error).message,
          remaining: [],
          elapsedMs: 0,
        },
        id: String(++id),
      });
    }).finally(() => stream.close());
    return stream.response;
  };
}

/** The leader hands leadership to a ready voter, then says to ask again. */
function moveLeadership(
  options: DrainRoutesOptions,
  state: ClusterState,
  node: FsmNode,
): never {
  const to = options.voters().find((id) =>
    id !== node.id && state.nodes.get(id)?.status === "ready"
  );
  if (to === undefined) {
    throw new ApiError(
      409,
      "drain.no_other_leader",
      `${node.name} leads the cluster and no other ready primary can take over; add a primary first`,
    );
  }
  try {
    options.transferLeadership(to);
  } catch (error) {
    throw new ApiError(
      503,
      "drain.leadership_moved",
      `${node.name} leads the cluster and could not hand over yet (${
        (error as Error).message
      }); ask again`,
    );
  }
  const name = state.nodes.get(to)?.name ?? to;
  options.log(`leadership handed to ${name} to drain ${node.name}`);
  throw new ApiError(
    503,
    "drain.leadership_moved",
    `${node.name} led the cluster: leadership is moving to ${name}; ask again`,
  );
}

/** `POST /v1/nodes/:name/drain/cancel`. */
export function cancelDrainHandler(options: DrainRoutesOptions): Handler {
  return async (request, context) => {
    await request.body?.cancel();
    const node = nodeNamed(options.state(), context.params.name ?? "");
    const result = await options.commit({
      type: "NodeUndrain",
      nodeId: node.id,
      atMs: options.nowMs(),
    });
    if (!result.ok) {
      throw new ApiError(409, result.rejection.code, result.rejection.message);
    }
    options.log(`${node.name} is schedulable again`);
    return jsonResponse({ name: node.name, draining: false });
  };
}
