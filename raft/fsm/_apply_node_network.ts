/**
 * What a `NodeRegister` does to the network: the first registration with a
 * cluster range fixes it; a node asking for networking gets the lowest
 * free `/24` of the range (and keeps it for life: re-registering never
 * moves it, so its allocs' addresses stay valid); its WireGuard peer is
 * recorded so that every node can configure it.
 */
import {
  type Cidr,
  clusterRangeProblem,
  formatCidr,
  formatIpv4,
  gatewayOf,
  nodeSubnet,
  nodeSubnetCount,
  parseCidr,
} from "../../config/cidr.ts";
import type { Applied, NodeRegisterCommand } from "./command.ts";
import type {
  ClusterNetwork,
  ClusterState,
  FsmNode,
  NodeMesh,
} from "./state.ts";
import { invalidUnless, quote, reject } from "./_apply_common.ts";

export interface NodeNetwork {
  readonly network: ClusterNetwork | null;
  readonly subnet: string | null;
  readonly mesh: NodeMesh | null;
}

/** The node's network after the registration, or why it is refused. */
export function registerNetwork(
  state: ClusterState,
  command: NodeRegisterCommand,
  existing: FsmNode | undefined,
): NodeNetwork | Applied {
  const asked = command.network;
  const kept: NodeNetwork = {
    network: state.network,
    subnet: existing?.subnet ?? null,
    mesh: existing?.mesh ?? null,
  };
  if (asked === undefined) return kept;
  const invalid = checkAsked(asked);
  if (invalid) return invalid;
  let network = state.network;
  if (asked.clusterRange !== undefined) {
    if (network === null) {
      network = { clusterRange: asked.clusterRange };
    } else if (network.clusterRange !== asked.clusterRange) {
      return reject(
        "node.network_mismatch",
        `Node ${
          quote(command.name)
        } was set up for cluster range ${asked.clusterRange}, but this cluster uses ${network.clusterRange}`,
      );
    }
  }
  const mesh = asked.mesh ?? null;
  if (mesh !== null) {
    for (const other of state.nodes.values()) {
      if (
        other.id !== command.nodeId && other.mesh?.publicKey === mesh.publicKey
      ) {
        return reject(
          "node.mesh_key_taken",
          `Node ${quote(command.name)} presents the WireGuard key of node ${
            quote(other.name)
          }; each node makes its own key (remove wireguard.key from a copied data dir)`,
        );
      }
    }
  }
  if (network === null) {
    return meshPeerRefusal(command, null) ??
      { network, subnet: kept.subnet, mesh };
  }
  const subnet = kept.subnet ?? freeSubnet(state, network, command.nodeId);
  if (subnet === null) {
    return reject(
      "node.subnets_exhausted",
      `No free /24 is left in cluster range ${network.clusterRange} for node ${
        quote(command.name)
      }; remove a node first`,
    );
  }
  return meshPeerRefusal(command, subnet) ?? { network, subnet, mesh };
}

/** A peer port through the mesh must be on the node's mesh address. */
function meshPeerRefusal(
  command: NodeRegisterCommand,
  subnet: string | null,
): Applied | null {
  const peer = command.network?.mesh?.peer;
  if (peer === undefined) return null;
  const cidr = subnet === null ? null : parseCidr(subnet);
  const meshAddress = cidr === null || typeof cidr === "string"
    ? null
    : formatIpv4(gatewayOf(cidr));
  const host = peer.slice(0, peer.lastIndexOf(":"));
  if (meshAddress === null || host !== meshAddress) {
    return reject(
      "node.mesh_peer_invalid",
      `Node ${quote(command.name)} offers its peer port through the mesh at ${
        quote(peer)
      }, but its mesh address is ${meshAddress ?? "not assigned (no subnet)"}`,
    );
  }
  return null;
}

function checkAsked(
  asked: NonNullable<NodeRegisterCommand["network"]>,
): Applied | null {
  const rangeProblem = asked.clusterRange === undefined
    ? null
    : clusterRangeProblem(asked.clusterRange);
  return invalidUnless(
    rangeProblem === null,
    `Cluster range is invalid: ${rangeProblem}`,
  ) ??
    invalidUnless(
      asked.mesh === undefined || isWireguardKey(asked.mesh.publicKey),
      `WireGuard public key must be 32 bytes in base64, got ${
        quote(asked.mesh?.publicKey)
      }`,
    ) ??
    invalidUnless(
      asked.mesh === undefined || isHostPort(asked.mesh.endpoint),
      `WireGuard endpoint must be host:port, got ${
        quote(asked.mesh?.endpoint)
      }`,
    ) ??
    invalidUnless(
      asked.mesh?.peer === undefined || isHostPort(asked.mesh.peer),
      `The mesh peer port must be host:port, got ${quote(asked.mesh?.peer)}`,
    );
}

/** The lowest `/24` of the range no node holds. */
function freeSubnet(
  state: ClusterState,
  network: ClusterNetwork,
  nodeId: string,
): string | null {
  const range = parseCidr(network.clusterRange) as Cidr;
  const taken = new Set<string>();
  for (const node of state.nodes.values()) {
    if (node.id !== nodeId && node.subnet !== null) taken.add(node.subnet);
  }
  const count = nodeSubnetCount(range);
  for (let index = 0; index < count; index++) {
    const subnet = formatCidr(nodeSubnet(range, index));
    if (!taken.has(subnet)) return subnet;
  }
  return null;
}

export function isWireguardKey(text: string): boolean {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) return false;
  return atob(text).length === 32;
}

function isHostPort(text: string): boolean {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}
