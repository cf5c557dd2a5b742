/**
 * `POST /v1/join` (join scope), answered by the leader (followers forward):
 * the grant a joining node needs (see join.ts and join_primary.ts). The
 * cluster key goes only over HTTPS to a holder of the join token.
 *
 * Body: `{ "name" }` for a secondary; `{ "name", "role": "primary",
 * "nodeId", "peer", "apiAddresses" }` for a primary.
 */
import type { ClusterState, RaftNode } from "../../raft/mod.ts";
import {
  ApiError,
  type Handler,
  jsonResponse,
  readJsonBody,
} from "../api/mod.ts";
import type { ClusterIdentity } from "../cluster_init/mod.ts";
import { JoinError, type JoinGrant } from "./join.ts";
import { admitPrimary, parsePrimaryJoinRequest } from "./join_primary.ts";

export interface JoinRouteOptions {
  readonly cluster: ClusterIdentity;
  readonly raft: RaftNode;
  readonly selfId: string;
  readonly selfPeer: () => string;
  state(): ClusterState;
}

/** Peer addresses of the primaries (nodes that serve an API), this one first. */
export function primaryPeers(state: ClusterState, self: string): string[] {
  const peers = [self];
  for (const node of state.nodes.values()) {
    const { peer, api } = node.endpoints;
    if (api !== null && peer !== null && !peers.includes(peer)) {
      peers.push(peer);
    }
  }
  return peers;
}

/** Raft member id → peer URL of the primaries the FSM knows, this one included. */
export function primaryMembers(
  state: ClusterState,
  selfId: string,
  selfPeer: string,
): Record<string, string> {
  const members: Record<string, string> = { [selfId]: `http://${selfPeer}` };
  for (const node of state.nodes.values()) {
    const { peer, api } = node.endpoints;
    if (api !== null && peer !== null) members[node.id] ??= `http://${peer}`;
  }
  return members;
}

export function joinHandler(options: JoinRouteOptions): Handler {
  return async (request) => {
    const body = await readJsonBody(request);
    const key = await Deno.readFile(options.cluster.clusterKeyPath);
    const clusterKey = btoa(String.fromCharCode(...key));
    const state = options.state();
    if ((body as { role?: unknown } | null)?.role !== "primary") {
      const grant: JoinGrant = {
        clusterId: options.cluster.clusterId,
        rpcToken: options.cluster.rpcToken,
        clusterKey,
        primaries: primaryPeers(state, options.selfPeer()),
      };
      return jsonResponse(grant);
    }
    let joinRequest;
    try {
      joinRequest = parsePrimaryJoinRequest(body);
    } catch (error) {
      if (!(error instanceof JoinError)) throw error;
      throw new ApiError(400, error.code, error.message, { cause: error });
    }
    const grant = await admitPrimary(joinRequest, {
      raft: options.raft,
      cluster: options.cluster,
      clusterKeyBase64: clusterKey,
      members: primaryMembers(state, options.selfId, options.selfPeer()),
      nowMs: Date.now(),
    });
    return jsonResponse(grant);
  };
}
