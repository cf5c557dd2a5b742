/**
 * A node's part of the WireGuard mesh (with bridge networking): its key
 * pair, made on first start and kept in the data dir (the private key
 * never leaves the node); its WireGuard interface at its mesh address (the
 * first address of its subnet), brought up once the cluster state shows its
 * subnet; and its peers, kept equal to the other nodes of the state: added
 * when a node registers, updated when its endpoint changes, removed with
 * `NodeRemove`. Each peer carries its node's whole subnet, so containers on
 * different nodes reach each other directly, always encrypted.
 *
 * The interface outlives the agent: a restart or upgrade of the agent does
 * not cut the containers' traffic between nodes.
 */
import { formatIpv4, gatewayOf, parseCidr } from "../../config/cidr.ts";
import {
  ensureMeshKey,
  Mesh,
  MESH_INTERFACE_DEFAULT,
  MESH_PORT_DEFAULT,
  type MeshPeer,
  type MeshPeerStatus,
} from "../../net/mesh/mod.ts";
import type { ClusterState } from "../../raft/mod.ts";
import { freshPeers, type MeshRoute, NO_MESH } from "./peer_route.ts";

/** How often the peers' handshakes are read (`wg show dump`). */
export const HANDSHAKE_POLL_MS = 5_000;
/** …and while a peer has none recent yet (a new peer, a node coming back). */
const HANDSHAKE_POLL_PENDING_MS = 1_000;

export interface NodeMeshOptions {
  readonly dataDir: string;
  readonly selfId: () => string;
  readonly state: () => ClusterState;
  readonly subscribe: (listener: (state: ClusterState) => void) => () => void;
  /** The host other nodes reach this one's WireGuard port on. */
  readonly endpointHost: () => string;
  readonly listenPort?: number;
  readonly interfaceName?: string;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/**
 * The WireGuard interface of a node whose namespaces are named with
 * `netnsPrefix`. `mill-wg` for the default prefix; several nodes on one
 * machine (test beds) each need their own, because wireguard-go's control
 * sockets (/var/run/wireguard/NAME.sock) are machine-wide.
 */
export function meshInterfaceOf(netnsPrefix: string | undefined): string {
  return netnsPrefix === undefined || netnsPrefix === "mill"
    ? MESH_INTERFACE_DEFAULT
    : `${netnsPrefix.slice(0, 12)}-wg`;
}

/** The peers node `selfId` configures: every other node with a subnet and a key. */
export function meshPeersOf(state: ClusterState, selfId: string): MeshPeer[] {
  const peers: MeshPeer[] = [];
  for (const node of state.nodes.values()) {
    if (node.id === selfId || node.mesh === null || node.subnet === null) {
      continue;
    }
    peers.push({
      publicKey: node.mesh.publicKey,
      endpoint: node.mesh.endpoint,
      allowedIps: [node.subnet],
    });
  }
  return peers.sort((a, b) => a.publicKey < b.publicKey ? -1 : 1);
}

export class NodeMesh {
  readonly name = "mesh";
  readonly #options: NodeMeshOptions;
  #publicKey: string | null = null;
  #keyPath = "";
  #mesh: Mesh | null = null;
  #unsubscribe: (() => void) | null = null;
  #applied = "";
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  #fresh = new Set<string>();
  #poll: ReturnType<typeof setTimeout> | undefined;
  readonly #routeListeners = new Set<() => void>();

  constructor(options: NodeMeshOptions) {
    this.#options = options;
  }

  /** What this node registers with; null before `start`. */
  get registration(): { publicKey: string; endpoint: string } | null {
    if (this.#publicKey === null) return null;
    const port = this.#options.listenPort ?? MESH_PORT_DEFAULT;
    return {
      publicKey: this.#publicKey,
      endpoint: `${this.#options.endpointHost()}:${port}`,
    };
  }

  /** This node's mesh address once its interface is up; else null. */
  get address(): string | null {
    return this.#mesh?.address ?? null;
  }

  /** How to reach peers now: up, and which peers handshook recently. */
  get route(): MeshRoute {
    if (this.#mesh === null) return NO_MESH;
    const fresh = this.#fresh;
    return { up: true, fresh: (publicKey) => fresh.has(publicKey) };
  }

  /** Called when the interface comes up or a peer's freshness changes. */
  onRouteChange(listener: () => void): () => void {
    this.#routeListeners.add(listener);
    return () => this.#routeListeners.delete(listener);
  }

  /** Each peer's last handshake and traffic; empty before the interface is up. */
  async status(): Promise<MeshPeerStatus[]> {
    return this.#mesh === null ? [] : await this.#mesh.status();
  }

  async start(): Promise<void> {
    const key = await ensureMeshKey(this.#options.dataDir);
    this.#publicKey = key.publicKey;
    this.#keyPath = key.keyPath;
    this.#unsubscribe = this.#options.subscribe((state) =>
      this.#changed(state)
    );
    this.#changed(this.#options.state());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#poll);
    this.#unsubscribe?.();
    await this.#queue;
  }

  /** Settles once the changes seen so far are applied (tests). */
  settled(): Promise<void> {
    return this.#queue;
  }

  #changed(state: ClusterState): void {
    const self = state.nodes.get(this.#options.selfId());
    if (self?.subnet == null) return;
    const subnet = self.subnet;
    const peers = meshPeersOf(state, self.id);
    const wanted = JSON.stringify(peers);
    if (this.#mesh !== null && wanted === this.#applied) return;
    this.#queue = this.#queue.then(async () => {
      if (this.#stopped) return;
      try {
        const mesh = this.#mesh ?? await this.#up(subnet);
        if (wanted === this.#applied) return;
        await mesh.setPeers(peers);
        this.#applied = wanted;
      } catch (error) {
        // The next change retries; until then the last peers stay.
        this.#options.log(
          "error",
          `mesh: ${error instanceof Error ? error.message : error}`,
        );
      }
    });
  }

  async #up(subnet: string): Promise<Mesh> {
    const cidr = parseCidr(subnet);
    if (typeof cidr === "string") throw new Error(cidr);
    const mesh = new Mesh({
      keyPath: this.#keyPath,
      address: formatIpv4(gatewayOf(cidr)),
      ...(this.#options.listenPort === undefined
        ? {}
        : { listenPort: this.#options.listenPort }),
      ...(this.#options.interfaceName === undefined
        ? {}
        : { interfaceName: this.#options.interfaceName }),
      log: this.#options.log,
    });
    await mesh.up();
    this.#mesh = mesh;
    this.#notifyRoute();
    this.#pollSoon(0);
    this.#options.log(
      "info",
      `mesh ${mesh.interfaceName} up at ${mesh.address} (${mesh.backend}), port ${mesh.listenPort}`,
    );
    return mesh;
  }

  #pollSoon(delayMs: number): void {
    if (this.#stopped) return;
    this.#poll = setTimeout(async () => {
      let next = HANDSHAKE_POLL_MS;
      try {
        const peers = await this.status();
        const fresh = freshPeers(peers, Date.now());
        if (fresh.size < peers.length) next = HANDSHAKE_POLL_PENDING_MS;
        const changed = fresh.size !== this.#fresh.size ||
          [...fresh].some((key) => !this.#fresh.has(key));
        this.#fresh = fresh;
        if (changed) this.#notifyRoute();
      } catch (error) {
        this.#options.log(
          "warn",
          `mesh: cannot read the peers' handshakes: ${
            error instanceof Error ? error.message : error
          }`,
        );
      }
      this.#pollSoon(next);
    }, delayMs);
  }

  #notifyRoute(): void {
    for (const listener of this.#routeListeners) {
      try {
        listener();
      } catch (error) {
        this.#options.log("error", `mesh route listener: ${error}`);
      }
    }
  }
}
