/**
 * Which address a node calls another node's peer port on (Raft, RPC, node
 * messages, the state watch): through the WireGuard mesh when both ends
 * are on it and the mesh works between them, else the registered address.
 *
 * "Works" is WireGuard's own evidence: a handshake with that peer within
 * the last `MESH_FRESH_MS`. With a keepalive every 25 s a live peer
 * handshakes every two minutes; a peer that stopped answering (its UDP port
 * blocked, its node gone) falls back to the registered address, still over
 * mutual TLS, so a broken mesh never cuts the cluster's control traffic.
 */
import type { FsmNode } from "../../raft/mod.ts";

/** WireGuard drops a session 180 s after its handshake (REJECT_AFTER_TIME). */
export const MESH_FRESH_MS = 180_000;

/** What this node knows of its own mesh. */
export interface MeshRoute {
  /** Its own mesh interface is up. */
  readonly up: boolean;
  /** The last handshake with the peer of `publicKey` was recent. */
  fresh(publicKey: string): boolean;
}

/** A node without a mesh (host networking, a primary-only node). */
export const NO_MESH: MeshRoute = { up: false, fresh: () => false };

/** `host:port` of `node`'s peer port as this node should call it, or null. */
export function peerEndpointOf(
  node: Pick<FsmNode, "endpoints" | "mesh">,
  route: MeshRoute,
): string | null {
  const meshPeer = node.mesh?.peer;
  if (
    meshPeer !== undefined && route.up && route.fresh(node.mesh!.publicKey)
  ) {
    return meshPeer;
  }
  return node.endpoints.peer;
}

/** The peers whose handshake is recent at `nowMs`, from `wg`'s status. */
export function freshPeers(
  peers: readonly {
    readonly publicKey: string;
    readonly latestHandshakeMs: number | null;
  }[],
  nowMs: number,
): Set<string> {
  const fresh = new Set<string>();
  for (const peer of peers) {
    const at = peer.latestHandshakeMs;
    if (at !== null && nowMs - at <= MESH_FRESH_MS) fresh.add(peer.publicKey);
  }
  return fresh;
}
