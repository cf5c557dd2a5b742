/**
 * A node's part of the container network (a part of the agent on nodes
 * that run containers with `--network bridge`): its bridge, nftables table
 * and alloc namespaces (net/containers), and the DNS server on its bridge
 * address that containers resolve `*.mill` with (net/dns), its records
 * following the node's view of the cluster state.
 *
 * The subnet comes from the registration (the leader's FSM hands it out);
 * the host side is made on the first alloc that needs it, or as soon as
 * the view shows the node's subnet, whichever is first.
 */
import { NODE_SUBNET_PREFIX, parseCidr } from "../../config/cidr.ts";
import { ContainerNetwork } from "../../net/containers/mod.ts";
import { buildZone } from "../../net/dns/zone.ts";
import { DnsServer } from "../../net/dns/server.ts";
import type { ClusterState } from "../../raft/mod.ts";
import type { StartRequest } from "../rpc/mod.ts";
import type {
  AllocNetworking,
  AllocNetworkSpec,
} from "../secondary/alloc_network.ts";
import { zoneInputOf } from "./dns_zone.ts";

export interface NodeNetworkOptions {
  /** Where the alloc's resolv.conf and hosts files are kept. */
  readonly dir: string;
  /** This node's id in the cluster state. */
  readonly selfId: () => string;
  readonly state: () => ClusterState;
  readonly subscribe: (listener: (state: ClusterState) => void) => () => void;
  /** The agent's own ports, which containers must not reach. */
  readonly agentPorts: () => readonly number[];
  readonly bridge?: string;
  /** Prefix of the namespaces, veths and nft table (default `mill`). */
  readonly netnsPrefix?: string;
  /** The DNS server's port on the bridge address (default 53). */
  readonly dnsPort?: number;
  /** The mesh's interface: traffic through it keeps its container source. */
  readonly meshInterface?: string;
  /** The containers' MTU: the mesh's, so that traffic to other nodes is not fragmented. */
  readonly mtu?: number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class NodeNetwork implements AllocNetworking {
  readonly name = "network";
  readonly #options: NodeNetworkOptions;
  #network: ContainerNetwork | null = null;
  #ready: Promise<ContainerNetwork> | null = null;
  #dns: DnsServer | null = null;
  #unsubscribe: (() => void) | null = null;
  #zoneKey = "";
  #stopped = false;

  constructor(options: NodeNetworkOptions) {
    this.#options = options;
  }

  /** The DNS server, once the host side is up (tests and metrics). */
  get dns(): DnsServer | null {
    return this.#dns;
  }

  get network(): ContainerNetwork | null {
    return this.#network;
  }

  start(): Promise<void> {
    this.#unsubscribe = this.#options.subscribe((state) =>
      this.#changed(state)
    );
    this.#changed(this.#options.state());
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    await this.#ready?.catch(() => {});
    await this.#dns?.stop();
    this.#dns = null;
  }

  async attach(
    request: StartRequest & { readonly ip: string },
  ): Promise<AllocNetworkSpec> {
    const network = await this.#host(subnetOf(request.ip));
    const { netnsPath } = await network.attach(request.allocId, request.ip);
    if (request.hostPort !== undefined && request.containerPort !== undefined) {
      await network.publish(request.allocId, {
        hostPort: request.hostPort,
        containerPort: request.containerPort,
      });
    }
    const dir = `${this.#options.dir}/${request.allocId}`;
    await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
    const resolvConfPath = `${dir}/resolv.conf`;
    const hostsPath = `${dir}/hosts`;
    await Deno.writeTextFile(resolvConfPath, network.resolvConf());
    await Deno.writeTextFile(hostsPath, hostsFile(request));
    return { netnsPath, resolvConfPath, hostsPath };
  }

  async detach(allocId: string): Promise<void> {
    const network = this.#network ?? await this.#ownSubnetHost();
    await network?.detach(allocId);
    await Deno.remove(`${this.#options.dir}/${allocId}`, { recursive: true })
      .catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const network = this.#network ?? await this.#ownSubnetHost();
    if (network !== null) {
      for (const removed of await network.sweep(keep)) {
        this.#options.log(
          "info",
          `removed the network of gone alloc ${removed}`,
        );
      }
    }
    for await (const entry of readDirIfAny(this.#options.dir)) {
      if (!keep.has(entry)) {
        await Deno.remove(`${this.#options.dir}/${entry}`, { recursive: true });
      }
    }
  }

  /** The host side for the node's own subnet, when the view shows one. */
  async #ownSubnetHost(): Promise<ContainerNetwork | null> {
    const subnet = this.#options.state().nodes.get(this.#options.selfId())
      ?.subnet ?? null;
    return subnet === null ? null : await this.#host(subnet);
  }

  #changed(state: ClusterState): void {
    if (this.#stopped) return;
    const subnet = state.nodes.get(this.#options.selfId())?.subnet ?? null;
    if (subnet !== null && this.#ready === null) {
      void this.#host(subnet).catch((error) =>
        this.#options.log(
          "error",
          `cannot set up the container network: ${error}`,
        )
      );
    }
    this.#refreshZone(state);
  }

  /**
   * Builds the zone only when its records change: most state changes are
   * heartbeats, and encoding every answer of a zone takes milliseconds.
   */
  #refreshZone(state: ClusterState): void {
    const dns = this.#dns;
    if (dns === null) return;
    const input = zoneInputOf(state);
    const key = JSON.stringify(input);
    if (key === this.#zoneKey) return;
    this.#zoneKey = key;
    dns.setZone(buildZone(input));
  }

  /** The bridge, table and DNS server for `subnet`, made once. */
  #host(subnet: string): Promise<ContainerNetwork> {
    if (this.#ready !== null) {
      return this.#ready.then((network) => {
        if (
          network.subnet.network !==
            (parseCidr(subnet) as { network: number }).network
        ) {
          throw new Error(
            `this node's containers are on ${subnet}, but its network was set up for another subnet; restart its agent`,
          );
        }
        return network;
      });
    }
    const ready = this.#makeHost(subnet);
    this.#ready = ready;
    ready.catch(() => {
      if (this.#ready === ready) this.#ready = null; // the next alloc retries
    });
    return ready;
  }

  async #makeHost(subnet: string): Promise<ContainerNetwork> {
    const { log } = this.#options;
    const network = new ContainerNetwork({
      subnet,
      agentPorts: this.#options.agentPorts(),
      ...(this.#options.bridge === undefined
        ? {}
        : { bridge: this.#options.bridge }),
      ...(this.#options.netnsPrefix === undefined
        ? {}
        : { netnsPrefix: this.#options.netnsPrefix }),
      ...(this.#options.dnsPort === undefined
        ? {}
        : { dnsPort: this.#options.dnsPort }),
      log,
    });
    await network.ensureHost();
    const dns = new DnsServer({
      listen: { hostname: network.gateway, port: this.#options.dnsPort ?? 53 },
      log: (level, message) => {
        if (level !== "debug") log(level, `dns: ${message}`);
      },
    });
    await dns.start();
    if (this.#stopped) {
      await dns.stop();
      throw new Error("the agent is stopping");
    }
    this.#dns = dns;
    this.#network = network;
    this.#refreshZone(this.#options.state());
    log(
      "info",
      `container network ${subnet} on ${network.bridge}, DNS on ${network.gateway}`,
    );
    return network;
  }
}

/** The node subnet an alloc address lies on. */
function subnetOf(ip: string): string {
  const octets = ip.split(".");
  octets[3] = "0";
  return `${octets.join(".")}/${NODE_SUBNET_PREFIX}`;
}

function hostsFile(request: StartRequest & { readonly ip: string }): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost\n${request.ip}\t${request.allocId}.alloc.mill ${request.allocId}\n`;
}

async function* readDirIfAny(dir: string): AsyncGenerator<string> {
  try {
    for await (const entry of Deno.readDir(dir)) yield entry.name;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
