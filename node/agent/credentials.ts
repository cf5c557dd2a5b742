/**
 * What a node knows of itself and its cluster, read from its data dir
 * before anything else starts: its identity (node.json), the cluster's RPC
 * token and CA, and the cluster key. A primary reads the files `mill init`
 * (or a primary join) wrote; a secondary-only node reads its join grant.
 */
import {
  type ClusterIdentity,
  loadClusterIdentity,
} from "../cluster_init/mod.ts";
import {
  CLUSTER_KEY_FILE,
  type ClusterKey,
  readClusterKeyFile,
} from "../secrets/mod.ts";
import { loadOrCreateNodeIdentity, type NodeIdentity } from "./identity.ts";
import { loadJoinedIdentity } from "./join.ts";
import type { Service } from "./supervisor.ts";

export interface NodeCredentials {
  readonly identity: NodeIdentity;
  readonly clusterId: string;
  readonly rpcToken: string;
  readonly caCertPem: string;
  readonly clusterKey: ClusterKey;
  /** The whole cluster identity on a primary; null on a secondary-only node. */
  readonly cluster: ClusterIdentity | null;
  /** Peer `host:port` of the primaries known at join (secondary-only nodes). */
  readonly joinedPrimaries: readonly string[];
}

export interface CredentialsOptions {
  readonly dataDir: string;
  /** The node's name on its first start. */
  readonly name: string;
  /** A primary reads `mill init`'s files; a secondary-only node its join grant. */
  readonly primary: boolean;
}

export class Credentials implements Service {
  readonly name = "credentials";
  readonly #options: CredentialsOptions;
  #loaded: NodeCredentials | null = null;

  constructor(options: CredentialsOptions) {
    this.#options = options;
  }

  /** Valid once started. */
  get current(): NodeCredentials {
    if (this.#loaded === null) throw new Error("credentials are not loaded");
    return this.#loaded;
  }

  async start(): Promise<void> {
    this.#loaded = this.#options.primary
      ? await this.#loadPrimary()
      : await this.#loadSecondary();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  async #loadPrimary(): Promise<NodeCredentials> {
    const { dataDir, name } = this.#options;
    const cluster = await loadClusterIdentity(dataDir);
    return {
      identity: await loadOrCreateNodeIdentity(dataDir, name),
      clusterId: cluster.clusterId,
      rpcToken: cluster.rpcToken,
      caCertPem: cluster.caCertPem,
      clusterKey: await readClusterKeyFile(cluster.clusterKeyPath),
      cluster,
      joinedPrimaries: [],
    };
  }

  async #loadSecondary(): Promise<NodeCredentials> {
    const { dataDir, name } = this.#options;
    const joined = await loadJoinedIdentity(dataDir);
    if (joined === null) {
      throw new Error(
        `Data dir "${dataDir}" has not joined a cluster; run "mill join" first`,
      );
    }
    return {
      identity: await loadOrCreateNodeIdentity(dataDir, name),
      clusterId: joined.clusterId,
      rpcToken: joined.rpcToken,
      caCertPem: joined.caCertPem,
      clusterKey: await readClusterKeyFile(`${dataDir}/${CLUSTER_KEY_FILE}`),
      cluster: null,
      joinedPrimaries: joined.primaries,
    };
  }
}
