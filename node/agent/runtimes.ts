/**
 * The runtimes of the cluster's nodes as this node reaches them: its own
 * in-process runtime (when it is also a secondary), the others through an
 * RPC client per peer endpoint, kept until the agent stops.
 */
import type { ClusterState, FsmNode, NodeId } from "../../raft/mod.ts";
import { RpcClient, type SecondaryRuntime } from "../rpc/mod.ts";
import type { Service } from "./supervisor.ts";

export interface NodeRuntimesOptions {
  selfId(): NodeId;
  /** This node's own runtime; null on a primary-only node. */
  local(): SecondaryRuntime | null;
  state(): ClusterState;
  /** The node's peer client (its certificate). */
  peerClient(): Deno.HttpClient;
  /** `host:port` to call a node's peer port on; default its registered one. */
  peerEndpoint?(node: FsmNode): string | null;
}

export class NodeRuntimes implements Service {
  readonly name = "node-runtimes";
  readonly #options: NodeRuntimesOptions;
  readonly #clients = new Map<string, RpcClient>();

  constructor(options: NodeRuntimesOptions) {
    this.#options = options;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  /** The runtime of `nodeId`: in-process for this node, RPC for others. */
  runtime(nodeId: NodeId): SecondaryRuntime {
    const local = this.#options.local();
    if (nodeId === this.#options.selfId() && local !== null) return local;
    const node = this.#options.state().nodes.get(nodeId);
    const peer = node === undefined
      ? null
      : this.#options.peerEndpoint?.(node) ?? node.endpoints.peer;
    const url = `https://${peer ?? "unknown.invalid:1"}`;
    let client = this.#clients.get(url);
    if (client === undefined) {
      client = new RpcClient(url, { client: this.#options.peerClient() });
      this.#clients.set(url, client);
    }
    return client;
  }

  /** The host health checks of `nodeId`'s containers go to. */
  probeHost(nodeId: NodeId): string {
    if (nodeId === this.#options.selfId()) return "127.0.0.1";
    return this.#options.state().nodes.get(nodeId)?.address ?? "127.0.0.1";
  }

  stop(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    return Promise.resolve();
  }
}
