/**
 * The scheduler's working copy of the nodes: free resources, used host
 * ports and container addresses, changed as the plan reserves and releases. Arrays indexed by node
 * position (nodes sorted by id) keep the hot loop over 1,000 nodes cheap.
 * Local mutable state; `schedule` stays pure at its boundary.
 */
import {
  ALLOC_HOST_MIN,
  allocHostMax,
  type Cidr,
  formatIpv4,
  hostAddress,
  parseCidr,
} from "../../config/cidr.ts";
import {
  type ClusterState,
  type FsmNode,
  HOST_PORT_MAX,
  HOST_PORT_MIN,
  isSchedulable,
  isTerminal,
} from "../../raft/fsm/mod.ts";

export class ClusterView {
  readonly nodes: readonly FsmNode[];
  readonly cpuTotal: readonly number[];
  readonly memoryTotal: readonly number[];
  readonly cpuFree: number[];
  readonly memoryFree: number[];
  /** Ready and not draining (and not excluded by the plan). */
  readonly schedulable: boolean[];
  /** Live (non-terminal, not stopping) allocs per node, any workload. */
  readonly allocCount: number[];
  readonly #indexById = new Map<string, number>();
  readonly #portsUsed: Set<number>[];
  readonly #portCursor: number[];
  /** Per node: its subnet (null: host networking) and the hosts taken on it. */
  readonly #subnets: (Cidr | null)[];
  readonly #hostsUsed: Set<number>[];
  readonly #hostCursor: number[];

  constructor(state: ClusterState) {
    this.nodes = [...state.nodes.values()].sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0
    );
    this.cpuTotal = this.nodes.map((node) => node.cpuMillis);
    this.memoryTotal = this.nodes.map((node) => node.memoryBytes);
    this.cpuFree = this.nodes.map((n) => n.cpuMillis - n.cpuMillisReserved);
    this.memoryFree = this.nodes.map((n) =>
      n.memoryBytes - n.memoryBytesReserved
    );
    this.schedulable = this.nodes.map(isSchedulable);
    this.allocCount = this.nodes.map((node) => node.activeAllocs);
    this.#portsUsed = this.nodes.map((node) => new Set(node.hostPorts));
    this.#portCursor = this.nodes.map(() => HOST_PORT_MIN);
    this.#subnets = this.nodes.map((node) => {
      const subnet = node.subnet === null ? null : parseCidr(node.subnet);
      return typeof subnet === "string" ? null : subnet;
    });
    this.#hostsUsed = this.nodes.map((node) => new Set(node.allocHosts));
    this.#hostCursor = this.nodes.map(() => ALLOC_HOST_MIN);
    this.nodes.forEach((node, index) => this.#indexById.set(node.id, index));
    for (const alloc of state.allocs.values()) {
      if (!isTerminal(alloc.status) && alloc.stopRequested) {
        const index = this.#indexById.get(alloc.nodeId);
        if (index !== undefined) this.allocCount[index]! -= 1;
      }
    }
  }

  indexOf(nodeId: string): number | undefined {
    return this.#indexById.get(nodeId);
  }

  node(index: number): FsmNode {
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`no node at index ${index}`);
    return node;
  }

  /** Never place on this node in this plan (the node being drained). */
  exclude(nodeId: string): void {
    const index = this.#indexById.get(nodeId);
    if (index !== undefined) this.schedulable[index] = false;
  }

  /** Fraction of the node in use after adding the reservation: the higher of cpu and memory. */
  loadAfter(index: number, cpuMillis: number, memoryBytes: number): number {
    const cpuTotal = this.cpuTotal[index]!;
    const memoryTotal = this.memoryTotal[index]!;
    const cpu = (cpuTotal - this.cpuFree[index]! + cpuMillis) / cpuTotal;
    const memory = (memoryTotal - this.memoryFree[index]! + memoryBytes) /
      memoryTotal;
    return cpu > memory ? cpu : memory;
  }

  hasFreePort(index: number): boolean {
    return this.#nextFreePort(index) !== null;
  }

  /** The lowest free host port at or above the cursor, taken. */
  takePort(index: number): number | null {
    const port = this.#nextFreePort(index);
    if (port === null) return null;
    this.#portsUsed[index]!.add(port);
    this.#portCursor[index] = port + 1;
    return port;
  }

  #nextFreePort(index: number): number | null {
    const used = this.#portsUsed[index]!;
    for (let port = this.#portCursor[index]!; port <= HOST_PORT_MAX; port++) {
      if (!used.has(port)) {
        this.#portCursor[index] = port;
        return port;
      }
    }
    return null;
  }

  /** True on a host-network node; on a networked one, while an address is free. */
  hasFreeAddress(index: number): boolean {
    return this.#subnets[index] === null || this.#nextFreeHost(index) !== null;
  }

  /**
   * The lowest free address of the node's subnet, taken; null on a
   * host-network node. Like a port, a replaced alloc's address stays
   * taken: the old alloc holds it while its successor starts.
   */
  takeAddress(index: number): string | null {
    const subnet = this.#subnets[index];
    if (subnet === null || subnet === undefined) return null;
    const host = this.#nextFreeHost(index);
    if (host === null) {
      // Only reachable by a bug: every caller checked hasFreeAddress first.
      throw new Error(`no free address on node ${this.node(index).id}`);
    }
    this.#hostsUsed[index]!.add(host);
    this.#hostCursor[index] = host + 1;
    return formatIpv4(hostAddress(subnet, host));
  }

  #nextFreeHost(index: number): number | null {
    const subnet = this.#subnets[index]!;
    const used = this.#hostsUsed[index]!;
    const max = allocHostMax(subnet);
    for (let host = this.#hostCursor[index]!; host <= max; host++) {
      if (!used.has(host)) {
        this.#hostCursor[index] = host;
        return host;
      }
    }
    return null;
  }

  reserve(index: number, cpuMillis: number, memoryBytes: number): void {
    this.cpuFree[index]! -= cpuMillis;
    this.memoryFree[index]! -= memoryBytes;
    this.allocCount[index]! += 1;
    if (this.cpuFree[index]! < 0 || this.memoryFree[index]! < 0) {
      // Only reachable by a bug: every caller checked the fit first.
      throw new Error(`scheduler over-committed node ${this.node(index).id}`);
    }
  }

  /**
   * Gives back a reservation (an alloc the plan stops before its next
   * step). Its port stays taken: the old alloc still holds it while the
   * next placement starts.
   */
  release(index: number, cpuMillis: number, memoryBytes: number): void {
    this.cpuFree[index]! += cpuMillis;
    this.memoryFree[index]! += memoryBytes;
    this.allocCount[index]! -= 1;
  }
}
