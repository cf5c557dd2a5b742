/**
 * Starts a node's heartbeat link: registration with this machine's
 * resources (or the operator's overrides) and the node's address labels,
 * then heartbeats of the allocs its runtime runs. Shared by primaries with
 * the secondary role and by secondary-only nodes.
 */
import type { SecondaryRuntime } from "../rpc/mod.ts";
import type { AgentOptions } from "./agent.ts";
import { machineResources, type NodeIdentity } from "./identity.ts";
import { PEER_LABEL } from "./leader.ts";
import { type LeaderChannel, NodeLink } from "./node_link.ts";

/** How long the heartbeat's "what runs here" question may take. */
const RUNNING_QUERY_TIMEOUT_MS = 5_000;

export interface NodeLinkStart {
  readonly identity: NodeIdentity;
  readonly options: AgentOptions;
  readonly advertiseHost: string;
  readonly peerPort: number;
  /** Labels beyond the peer address, e.g. the API URL of a primary. */
  readonly extraLabels?: Readonly<Record<string, string>>;
  readonly channel: LeaderChannel;
  readonly runtime: SecondaryRuntime;
  readonly log: (message: string) => void;
}

/** Builds and starts the link; the caller stops it. */
export function startNodeLink(start: NodeLinkStart): NodeLink {
  const { identity, options, advertiseHost, peerPort, runtime } = start;
  const resources = machineResources();
  const link = new NodeLink({
    registration: {
      nodeId: identity.nodeId,
      millId: identity.millId,
      name: identity.name,
      address: advertiseHost,
      cpuMillis: options.cpuMillis ?? resources.cpuMillis,
      memoryBytes: options.memoryBytes ?? resources.memoryBytes,
      labels: {
        ...options.labels,
        [PEER_LABEL]: `${advertiseHost}:${peerPort}`,
        ...start.extraLabels,
      },
    },
    channel: start.channel,
    running: async () =>
      (await runtime.status({}, AbortSignal.timeout(RUNNING_QUERY_TIMEOUT_MS)))
        .allocs.filter((a) => a.state === "running").map((a) => a.allocId),
    ...(options.heartbeatIntervalMs === undefined
      ? {}
      : { intervalMs: options.heartbeatIntervalMs }),
    log: start.log,
  });
  link.start();
  return link;
}
