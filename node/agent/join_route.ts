/**
 * `POST /v1/join` (join scope), answered by the leader (followers forward):
 * the grant a joining node needs (see join.ts and join_primary.ts).
 *
 * - A secondary sends `{ "name", "nodeId", "publicKeyPem", "hosts" }` and
 *   gets its node certificate (for that key, naming that id and those
 *   hosts), the cluster id and the primaries' peer addresses: nothing that
 *   opens anything else (no token, no cluster key).
 * - A primary sends `{ "name", "role": "primary", "nodeId", "peer",
 *   "apiAddresses" }` and gets the cluster's whole identity (a primary holds
 *   the CA and the cluster key), over HTTPS only.
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
import { parseSecondaryJoinRequest } from "./_node_message_schema.ts";
import { issueForRequest } from "./node_certificate_request.ts";
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
  const members: Record<string, string> = { [selfId]: `https://${selfPeer}` };
  for (const node of state.nodes.values()) {
    const { peer, api } = node.endpoints;
    if (api !== null && peer !== null) members[node.id] ??= `https://${peer}`;
  }
  return members;
}

export function joinHandler(options: JoinRouteOptions): Handler {
  return async (request, context) => {
    const body = await readJsonBody(request);
    const state = options.state();
    const cluster = options.cluster;
    if ((body as { role?: unknown } | null)?.role !== "primary") {
      const joining = badRequestOn(() => parseSecondaryJoinRequest(body));
      // A certificate for a node id in use would let its holder speak as
      // that node (a primary, even): a join admits new nodes only.
      if (
        state.nodes.has(joining.nodeId) ||
        joining.nodeId === options.selfId ||
        options.raft.members().has(joining.nodeId)
      ) {
        throw new ApiError(
          409,
          "join.node_exists",
          `Node "${joining.nodeId}" is already a member; remove it first or join from a fresh data dir`,
        );
      }
      const nodeCertPem = await issueForRequest(
        cluster,
        joining,
        "join.bad_request",
      );
      const grant: JoinGrant = {
        clusterId: cluster.clusterId,
        primaries: primaryPeers(state, options.selfPeer()),
        nodeCertPem,
      };
      return jsonResponse(grant);
    }
    // A primary holds the CA and the cluster key: more than a join token
    // is worth, so joining one takes the admin token.
    if (context.scope !== "admin") {
      throw new ApiError(
        403,
        "join.primary_needs_admin",
        "Joining a primary needs the admin token (<admin token>.<CA fingerprint>); the join token admits secondaries only",
      );
    }
    const joinRequest = badRequestOn(() => parsePrimaryJoinRequest(body));
    const key = await Deno.readFile(cluster.clusterKeyPath);
    const clusterKey = btoa(String.fromCharCode(...key));
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

/** A join request's parse, its refusal a 400. */
function badRequestOn<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof JoinError)) throw error;
    throw new ApiError(400, error.code, error.message, { cause: error });
  }
}
