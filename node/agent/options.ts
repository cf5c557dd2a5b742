/**
 * `mill agent`'s configuration, in the slices its parts take: each part of
 * the node reads its own slice, never the whole.
 */
import type { ContainerdOptions } from "./runtime_service.ts";

export type Role = "primary" | "secondary";
export type LogLevel = "info" | "warn" | "error";
export type AgentLog = (level: LogLevel, message: string) => void;

export interface HostPort {
  readonly hostname: string;
  readonly port: number;
}

/** The peer port: Raft, RPC, node messages, the state watch. */
export interface PeerSlice {
  readonly listen: HostPort;
  /** The host other nodes reach this one on; default the listen host. */
  readonly advertiseHost?: string;
}

/** The node's link to the leader and the leader's view of the nodes. */
export interface HeartbeatSlice {
  /** How often this node beats (default 2 s). */
  readonly intervalMs?: number;
  /** Silence after which the leader declares a node down (default 15 s). */
  readonly timeoutMs?: number;
}

/** What the node registers with; the machine's own figures by default. */
export type StorageSlice =
  | { readonly provider: "local" }
  | {
    readonly provider: "do";
    /** The API base (default DigitalOcean's). */
    readonly apiBase?: string;
    /** The droplets' region, where volumes are created. */
    readonly region: string;
    /** Where a droplet's udev links its volumes (default /dev/disk/by-id). */
    readonly byIdDir?: string;
  };

/** The label a node registers its provider machine id with. */
export const MACHINE_LABEL = "mill.machine";

export interface ResourcesSlice {
  readonly cpuMillis?: number;
  readonly memoryBytes?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Container networking: `bridge` gives every alloc a network namespace and
 * an address of the node's subnet (with DNS on the bridge address); `host`
 * (the default for now) runs containers on the node's network.
 */
export interface NetworkSlice {
  readonly mode: "bridge" | "host";
  readonly bridge?: string;
  /** Prefix of the namespaces, veths and nft table (tests: one per node). */
  readonly netnsPrefix?: string;
  /** The DNS server's port on the bridge address (default 53). */
  readonly dnsPort?: number;
  /** WireGuard's UDP port (default 51820). */
  readonly meshPort?: number;
}

/** Raft timing (tests shorten it). */
export interface RaftSlice {
  readonly tickMs?: number;
  readonly electionTicks?: number;
}

export interface AgentOptions {
  /** A data dir made by `mill init` or `mill join`. */
  readonly dataDir: string;
  readonly roles: readonly Role[];
  /** Name on first start (kept in node.json afterwards). */
  readonly name: string;
  readonly peer: PeerSlice;
  /** The HTTPS API (primaries); default 127.0.0.1 on the cluster's API port. */
  readonly api?: { readonly listen?: HostPort };
  /** The container runtime (secondaries). */
  readonly containerd?: ContainerdOptions;
  readonly heartbeat?: HeartbeatSlice;
  readonly resources?: ResourcesSlice;
  readonly raft?: RaftSlice;
  readonly network?: NetworkSlice;
  /**
   * The ingress proxy (node/ingress); absent: none on this node. `listen`
   * defaults to the advertised host, port 80.
   */
  readonly ingress?: {
    readonly listen?: HostPort;
    /** Default: the HTTP listen host, port 443. */
    readonly httpsListen?: HostPort;
  };
  /**
   * The cluster's storage provider, on primaries (the leader runs the
   * volume steps): `local` (default) or DigitalOcean's API, whose token is
   * the secret `digitalocean-token`.
   */
  readonly storage?: StorageSlice;
  /**
   * The provider's id of this machine (a DigitalOcean droplet id), which
   * the leader attaches volumes to; registered as the label `mill.machine`.
   */
  readonly machineId?: string;
  /** How often the agent checks its Raft role and leader duties tick (default 250 ms). */
  readonly tickMs?: number;
  /** The node's log; default stderr. */
  readonly log?: AgentLog;
}
