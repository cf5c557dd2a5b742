/**
 * `POST /v1/join` (join scope) on any primary: the grant a joining node
 * needs (see join.ts). The cluster key goes only over HTTPS to a holder of
 * the join token.
 */
import type { ClusterState } from "../../raft/mod.ts";
import { type Handler, jsonResponse } from "../api/mod.ts";
import { API_LABEL, PEER_LABEL } from "./leader.ts";
import type { JoinGrant } from "./join.ts";

export interface JoinRouteOptions {
  readonly clusterId: string;
  readonly rpcToken: string;
  readonly clusterKeyPath: string;
  primaries(): string[];
}

/** Peer addresses of the primaries (nodes that serve an API), this one first. */
export function primaryPeers(state: ClusterState, self: string): string[] {
  const peers = [self];
  for (const node of state.nodes.values()) {
    const peer = node.labels[PEER_LABEL];
    if (node.labels[API_LABEL] !== undefined && peer !== undefined) {
      if (!peers.includes(peer)) peers.push(peer);
    }
  }
  return peers;
}

export function joinHandler(options: JoinRouteOptions): Handler {
  return async () => {
    const key = await Deno.readFile(options.clusterKeyPath);
    const grant: JoinGrant = {
      clusterId: options.clusterId,
      rpcToken: options.rpcToken,
      clusterKey: btoa(String.fromCharCode(...key)),
      primaries: options.primaries(),
    };
    return jsonResponse(grant);
  };
}
