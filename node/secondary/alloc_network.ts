/**
 * What the runtime asks of the node's network for an alloc with an address
 * of its own (a `StartRequest` with `ip`): a network namespace holding that
 * address, its publication on the host port, and the files its container
 * resolves names with. The agent's network part implements it
 * (node/network/); without one, every alloc shares the node's network.
 */
import type { StartRequest } from "../rpc/mod.ts";

/** What the OCI spec of a networked alloc needs. */
export interface AllocNetworkSpec {
  readonly netnsPath: string;
  readonly resolvConfPath: string;
  readonly hostsPath: string;
}

export interface AllocNetworking {
  /** Idempotent: a retried or restarted alloc finds its namespace again. */
  attach(
    request: StartRequest & { readonly ip: string },
  ): Promise<AllocNetworkSpec>;
  /** Removes its namespace, publication and files; idempotent. */
  detach(allocId: string): Promise<void>;
  /** Removes what no alloc of `keep` holds (after a crash of the agent). */
  sweep(keep: ReadonlySet<string>): Promise<void>;
}
