/**
 * A node's container network: its bridge, one network namespace and
 * address per alloc, and the nftables table for masquerade, published
 * ports and the agent's ports, all derived from the desired state held
 * here. Every operation is idempotent and runs one at a time; the state is
 * read back from the system on first use, so a new object (after a crash
 * of the agent) carries on with what the old one made.
 */
import {
  ALLOC_HOST_MIN,
  allocHostMax,
  type Cidr,
  contains,
  formatCidr,
  formatIpv4,
  gatewayOf,
  parseCidr,
  parseIpv4,
} from "../../config/cidr.ts";
import { type CommandRunner, localRunner, runChecked } from "./command.ts";
import { deleteBridge, ensureBridge, listVeths } from "./bridge.ts";
import {
  allocAddressOf,
  createAllocNetns,
  listNetns,
  removeAllocNetns,
} from "./alloc_netns.ts";
import {
  allocIdProblem,
  interfaceNameProblem,
  NETNS_PREFIX_DEFAULT,
  NetworkNames,
} from "./names.ts";
import {
  deleteTableScript,
  parsePublicationRules,
  type Protocol,
  type Publication,
  tableScript,
} from "./nft_table.ts";

export const BRIDGE_DEFAULT = "mill0";
export const MESH_INTERFACE_DEFAULT = "mill-wg";
export const DNS_PORT_DEFAULT = 53;
/** The node's pool of host ports for publications. */
export const HOST_PORT_MIN = 20000;
export const HOST_PORT_MAX = 29999;

export type NetworkLog = (
  level: "info" | "warn" | "error",
  message: string,
) => void;

export interface ContainerNetworkOptions {
  /** The node's container subnet, like `10.210.3.0/24`. */
  readonly subnet: string;
  readonly bridge?: string;
  /** Prefix of the namespace, veth and table names (default `mill`). */
  readonly netnsPrefix?: string;
  /** nftables table (family inet); default: the netns prefix. */
  readonly table?: string;
  /** Traffic leaving through it is not masqueraded (default `mill-wg`). */
  readonly meshInterface?: string;
  /** TCP ports of the agent that containers must not reach on the node. */
  readonly agentPorts: readonly number[];
  readonly dnsPort?: number;
  /** MTU of the bridge and the veths; the kernel's default when absent. */
  readonly mtu?: number;
  readonly run?: CommandRunner;
  readonly log: NetworkLog;
}

export interface PublishRequest {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol?: Protocol;
}

export class ContainerNetwork {
  readonly subnet: Cidr;
  readonly gateway: string;
  readonly bridge: string;
  readonly table: string;
  readonly names: NetworkNames;
  readonly #meshInterface: string;
  readonly #agentPorts: readonly number[];
  readonly #dnsPort: number;
  readonly #mtu: number | undefined;
  readonly #run: CommandRunner;
  readonly #log: NetworkLog;
  /** Alloc id → its address (null: a namespace found without one). */
  #allocs: Map<string, string | null> | null = null;
  /** Alloc id → its publications. */
  #publications = new Map<string, Publication[]>();
  #hostEnsured = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ContainerNetworkOptions) {
    const subnet = parseCidr(options.subnet);
    if (typeof subnet === "string") throw new RangeError(subnet);
    if (subnet.prefix < 8 || subnet.prefix > 30) {
      throw new RangeError(
        `container subnet ${options.subnet} must be a /8 to /30 (a node's is a /24)`,
      );
    }
    this.subnet = subnet;
    this.gateway = formatIpv4(gatewayOf(subnet));
    this.names = new NetworkNames(options.netnsPrefix ?? NETNS_PREFIX_DEFAULT);
    this.bridge = options.bridge ?? BRIDGE_DEFAULT;
    this.#meshInterface = options.meshInterface ?? MESH_INTERFACE_DEFAULT;
    for (const name of [this.bridge, this.#meshInterface]) {
      const problem = interfaceNameProblem(name);
      if (problem !== null) throw new RangeError(problem);
    }
    this.table = options.table ?? this.names.table;
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(this.table)) {
      throw new RangeError(
        `nft table name ${
          JSON.stringify(this.table)
        } must be lowercase letters, digits and "_", starting with a letter`,
      );
    }
    const dnsPort = options.dnsPort ?? DNS_PORT_DEFAULT;
    for (const port of [...options.agentPorts, dnsPort]) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new RangeError(`${port} is not a TCP/UDP port (1-65535)`);
      }
    }
    if (options.agentPorts.includes(dnsPort)) {
      throw new RangeError(
        `agent port ${dnsPort} is also the DNS port containers must reach`,
      );
    }
    this.#agentPorts = [...options.agentPorts];
    this.#dnsPort = dnsPort;
    if (
      options.mtu !== undefined &&
      (!Number.isInteger(options.mtu) || options.mtu < 576 ||
        options.mtu > 65535)
    ) {
      throw new RangeError(`mtu ${options.mtu} must be 576-65535`);
    }
    this.#mtu = options.mtu;
    this.#run = options.run ?? localRunner();
    this.#log = options.log;
  }

  /**
   * Makes the bridge (with the gateway address, up), IPv4 forwarding and
   * the nft table exist, repairing whatever is missing (and saying so), and
   * puts the allocs' veths back on a bridge that was made again.
   */
  ensureHost(): Promise<void> {
    return this.#serial(() => this.#ensureHost());
  }

  /**
   * Gives the alloc its namespace, veth and address; returns the namespace
   * for the OCI spec. A retry with the same address returns the same (and
   * repairs a half-made one).
   */
  attach(allocId: string, address: string): Promise<{ netnsPath: string }> {
    return this.#serial(async () => {
      this.#checkAllocId(allocId);
      this.#checkAddress(address);
      const allocs = await this.#loaded();
      for (const [other, otherAddress] of allocs) {
        if (other !== allocId && otherAddress === address) {
          throw new Error(
            `Address ${address} is already used by alloc ${other} on this node; give alloc ${allocId} another address`,
          );
        }
      }
      const current = allocs.get(allocId);
      if (current !== undefined && current !== null && current !== address) {
        throw new Error(
          `Alloc ${allocId} is attached with address ${current}, not ${address}; detach it first to change its address`,
        );
      }
      if (!this.#hostEnsured) await this.#ensureHost();
      const netns = this.names.netnsOf(allocId);
      const veth = this.names.vethOf(allocId);
      for (const other of allocs.keys()) {
        if (other !== allocId && this.names.vethOf(other) === veth) {
          throw new Error(
            `Alloc ${allocId} and alloc ${other} derive the same veth name ${veth}; detach ${other} first`,
          );
        }
      }
      if (current === address && await this.#healthy(netns, veth, address)) {
        await this.#enslave(veth);
        return { netnsPath: this.names.netnsPathOf(allocId) };
      }
      // Unknown, or half made (a crash during attach): start over.
      await removeAllocNetns(this.#run, netns, veth);
      allocs.delete(allocId);
      await createAllocNetns(this.#run, {
        netns,
        veth,
        bridge: this.bridge,
        address,
        prefixLength: this.subnet.prefix,
        gateway: this.gateway,
        ...(this.#mtu === undefined ? {} : { mtu: this.#mtu }),
      });
      allocs.set(allocId, address);
      return { netnsPath: this.names.netnsPathOf(allocId) };
    });
  }

  /** Removes the alloc's publications, veth and namespace; idempotent. */
  detach(allocId: string): Promise<void> {
    return this.#serial(async () => {
      this.#checkAllocId(allocId);
      const allocs = await this.#loaded();
      if (this.#publications.delete(allocId)) await this.#applyTable();
      await removeAllocNetns(
        this.#run,
        this.names.netnsOf(allocId),
        this.names.vethOf(allocId),
      );
      allocs.delete(allocId);
    });
  }

  /**
   * Forwards `hostPort` of the node (any of its addresses, localhost
   * included) to `containerPort` of the alloc. Publishing the same again
   * is a no-op; a host port another alloc holds is refused.
   */
  publish(allocId: string, request: PublishRequest): Promise<void> {
    return this.#serial(async () => {
      this.#checkAllocId(allocId);
      const protocol = request.protocol ?? "tcp";
      if (protocol !== "tcp" && protocol !== "udp") {
        throw new RangeError(
          `protocol ${JSON.stringify(protocol)} must be "tcp" or "udp"`,
        );
      }
      const { hostPort, containerPort } = request;
      if (
        !Number.isInteger(hostPort) || hostPort < HOST_PORT_MIN ||
        hostPort > HOST_PORT_MAX
      ) {
        throw new RangeError(
          `host port ${hostPort} is outside the node's pool ${HOST_PORT_MIN}-${HOST_PORT_MAX}`,
        );
      }
      if (
        !Number.isInteger(containerPort) || containerPort < 1 ||
        containerPort > 65535
      ) {
        throw new RangeError(
          `container port ${containerPort} is not a port (1-65535)`,
        );
      }
      const address = (await this.#loaded()).get(allocId);
      if (address === undefined || address === null) {
        throw new Error(
          `Alloc ${allocId} is not attached to the container network; attach it before publishing its ports`,
        );
      }
      for (const [other, list] of this.#publications) {
        const taken = list.find((p) =>
          p.protocol === protocol && p.hostPort === hostPort
        );
        if (other !== allocId && taken !== undefined) {
          throw new Error(
            `Host port ${protocol}/${hostPort} is already published for alloc ${other}; pick another port from the pool`,
          );
        }
      }
      const before = this.#publications.get(allocId) ?? [];
      const wanted: Publication = {
        allocId,
        protocol,
        hostPort,
        address,
        containerPort,
      };
      const same = before.some((p) =>
        p.protocol === protocol && p.hostPort === hostPort &&
        p.containerPort === containerPort && p.address === address
      );
      if (same && this.#hostEnsured) return;
      const after = [
        ...before.filter((p) =>
          !(p.protocol === protocol && p.hostPort === hostPort)
        ),
        wanted,
      ];
      this.#publications.set(allocId, after);
      try {
        if (this.#hostEnsured) await this.#applyTable();
        else await this.#ensureHost();
      } catch (error) {
        this.#publications.set(allocId, before);
        throw error;
      }
    });
  }

  /** Removes every publication of the alloc; idempotent. */
  unpublish(allocId: string): Promise<void> {
    return this.#serial(async () => {
      this.#checkAllocId(allocId);
      await this.#loaded();
      if (this.#publications.delete(allocId)) await this.#applyTable();
    });
  }

  /**
   * Removes the namespaces, veths and publications of this prefix that no
   * alloc in `owned` holds (left by a crash of the agent); returns what it
   * removed, like `netns mill-a-web-1` or `veth mv1a2b3c4d5e6f`.
   */
  sweep(owned: ReadonlySet<string>): Promise<string[]> {
    return this.#serial(async () => {
      this.#allocs = null; // read everything back from the system
      const allocs = await this.#loaded();
      const removed: string[] = [];
      for (const allocId of [...allocs.keys()]) {
        if (owned.has(allocId)) continue;
        removed.push(
          ...await removeAllocNetns(
            this.#run,
            this.names.netnsOf(allocId),
            this.names.vethOf(allocId),
          ),
        );
        allocs.delete(allocId);
      }
      const ownedVeths = new Set([...owned].map((id) => this.names.vethOf(id)));
      for (const veth of await listVeths(this.#run)) {
        if (this.names.isOwnVeth(veth.name) && !ownedVeths.has(veth.name)) {
          const result = await this.#run(["ip", "link", "del", veth.name]);
          // Gone meanwhile (its namespace went) is fine.
          if (result.code === 0) removed.push(`veth ${veth.name}`);
        }
      }
      let tableChanged = false;
      for (const [allocId, list] of [...this.#publications]) {
        if (owned.has(allocId)) continue;
        this.#publications.delete(allocId);
        tableChanged = true;
        for (const p of list) {
          removed.push(
            `publication ${p.protocol}/${p.hostPort} -> ${p.address}:${p.containerPort}`,
          );
        }
      }
      if (tableChanged && await this.#tableExists()) await this.#applyTable();
      return removed;
    });
  }

  /** The resolv.conf of the allocs: the node's DNS on the gateway address. */
  resolvConf(): string {
    return `nameserver ${this.gateway}\nsearch mill\noptions ndots:1\n`;
  }

  /** Removes every alloc's network of this prefix, the table and the bridge. */
  teardown(): Promise<void> {
    return this.#serial(async () => {
      this.#allocs = null;
      const allocs = await this.#loaded();
      for (const allocId of allocs.keys()) {
        await removeAllocNetns(
          this.#run,
          this.names.netnsOf(allocId),
          this.names.vethOf(allocId),
        );
      }
      this.#publications.clear();
      this.#allocs = new Map();
      await runChecked(
        this.#run,
        ["nft", "-f", "-"],
        deleteTableScript(this.table),
      );
      await deleteBridge(this.#run, this.bridge);
      this.#hostEnsured = false;
    });
  }

  /** The allocs attached now, by id, with their addresses. */
  async attached(): Promise<Map<string, string>> {
    return await this.#serial(async () => {
      const out = new Map<string, string>();
      for (const [id, address] of await this.#loaded()) {
        if (address !== null) out.set(id, address);
      }
      return out;
    });
  }

  #serial<T>(job: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(job, job);
    this.#queue = next.catch(() => {/* the caller sees the error */});
    return next;
  }

  #checkAllocId(allocId: string): void {
    const problem = allocIdProblem(allocId);
    if (problem !== null) throw new RangeError(problem);
  }

  #checkAddress(address: string): void {
    const value = parseIpv4(address);
    const subnet = formatCidr(this.subnet);
    if (value === null) {
      throw new RangeError(
        `${
          JSON.stringify(address)
        } is not an IPv4 address; give an address of ${subnet}`,
      );
    }
    const host = value - this.subnet.network;
    if (
      !contains(this.subnet, value) || host < ALLOC_HOST_MIN ||
      host > allocHostMax(this.subnet)
    ) {
      throw new RangeError(
        `Address ${address} is not an alloc address of this node's subnet ${subnet} (${
          formatIpv4(this.subnet.network + ALLOC_HOST_MIN)
        } to ${formatIpv4(this.subnet.network + allocHostMax(this.subnet))})`,
      );
    }
  }

  /** Reads the allocs and publications back from the system once. */
  async #loaded(): Promise<Map<string, string | null>> {
    if (this.#allocs !== null) return this.#allocs;
    const allocs = new Map<string, string | null>();
    for (const netns of await listNetns(this.#run)) {
      const allocId = this.names.allocOfNetns(netns);
      if (allocId === null) continue;
      allocs.set(allocId, await allocAddressOf(this.#run, netns));
    }
    const byAddress = new Map(
      [...allocs].flatMap(([id, a]) => a === null ? [] : [[a, id] as const]),
    );
    const publications = new Map<string, Publication[]>();
    const listing = await this.#run([
      "nft",
      "list",
      "chain",
      "inet",
      this.table,
      "prerouting",
    ]);
    if (listing.code === 0) {
      for (const rule of parsePublicationRules(listing.stdout)) {
        const allocId = byAddress.get(rule.address);
        if (allocId === undefined) continue; // swept with the table's next write
        const list = publications.get(allocId) ?? [];
        list.push({ allocId, ...rule });
        publications.set(allocId, list);
      }
    }
    this.#allocs = allocs;
    this.#publications = publications;
    return allocs;
  }

  async #healthy(netns: string, veth: string, address: string) {
    const veths = await listVeths(this.#run);
    return veths.some((v) => v.name === veth) &&
      await allocAddressOf(this.#run, netns) === address;
  }

  async #enslave(veth: string): Promise<void> {
    await runChecked(this.#run, [
      "ip",
      "link",
      "set",
      veth,
      "master",
      this.bridge,
      "up",
    ]);
  }

  async #tableExists(): Promise<boolean> {
    const result = await this.#run([
      "nft",
      "list",
      "table",
      "inet",
      this.table,
    ]);
    return result.code === 0;
  }

  async #ensureHost(): Promise<void> {
    const allocs = await this.#loaded();
    const firstTime = !this.#hostEnsured;
    const tableExisted = await this.#tableExists();
    const done = await ensureBridge(this.#run, {
      name: this.bridge,
      gateway: this.gateway,
      prefixLength: this.subnet.prefix,
      ...(this.#mtu === undefined ? {} : { mtu: this.#mtu }),
    });
    if (!tableExisted) done.push(`created nft table inet ${this.table}`);
    const ownVeths = new Set(
      [...allocs.keys()].map((id) => this.names.vethOf(id)),
    );
    for (const veth of await listVeths(this.#run)) {
      if (
        ownVeths.has(veth.name) && (veth.master !== this.bridge || !veth.up)
      ) {
        await this.#enslave(veth.name);
        done.push(`put veth ${veth.name} back on ${this.bridge}`);
      }
    }
    await this.#applyTable();
    this.#hostEnsured = true;
    if (done.length === 0) return;
    const fresh = firstTime && !tableExisted &&
      done.includes(`created bridge ${this.bridge}`);
    if (fresh) {
      this.#log(
        "info",
        `container network ${formatCidr(this.subnet)}: ${done.join(", ")}`,
      );
    } else {
      this.#log(
        "warn",
        `container network ${
          formatCidr(this.subnet)
        } was missing parts (removed by hand?), repaired: ${done.join(", ")}`,
      );
    }
  }

  async #applyTable(): Promise<void> {
    const script = tableScript({
      table: this.table,
      bridge: this.bridge,
      meshInterface: this.#meshInterface,
      subnet: formatCidr(this.subnet),
      gateway: this.gateway,
      agentPorts: this.#agentPorts,
      dnsPort: this.#dnsPort,
      publications: [...this.#publications.values()].flat(),
    });
    await runChecked(this.#run, ["nft", "-f", "-"], script);
  }
}
