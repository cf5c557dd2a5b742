/**
 * What a node knows of itself and its cluster, read from its data dir
 * before anything else starts: its identity (node.json), the cluster CA,
 * its own TLS identity on the peer port (node_certificate.ts) and the cluster
 * key. A primary reads the files `mill init` (or a primary join) wrote; a
 * secondary-only node reads its join grant. The peer client, which presents
 * the node's certificate to other nodes, lives as long as the agent.
 */
import {
  type ClusterIdentity,
  loadClusterIdentity,
  readCertificate,
} from "../cluster_init/mod.ts";
import { type ClusterKey, readClusterKeyFile } from "../secrets/mod.ts";
import { loadOrCreateNodeIdentity, type NodeIdentity } from "./identity.ts";
import {
  ensurePrimaryNodeTls,
  issueCertificateFor,
  loadJoinedNodeTls,
  loadOrCreateNodeKey,
  nodeCertificateProblem,
  type NodeTls,
  saveNodeCertificate,
} from "./node_certificate.ts";

/** Asks a primary to sign this node's key for `hosts` (a secondary's way). */
export type RemoteIssuer = (publicKeyPem: string) => Promise<string>;

import { loadJoinedIdentity } from "./join.ts";
import type { Service } from "./supervisor.ts";

export interface NodeCredentials {
  readonly identity: NodeIdentity;
  readonly clusterId: string;
  readonly caCertPem: string;
  /** SHA-256 (hex) of the CA certificate, as join tokens carry it. */
  readonly caFingerprintSha256: string;
  /** This node's certificate and key for the peer port. */
  readonly nodeTls: NodeTls;
  /** Talks to other nodes' peer ports: trusts only the CA, presents `nodeTls`. */
  readonly peerClient: Deno.HttpClient;
  /** The key that decrypts every secret: primaries only (null on a secondary). */
  readonly clusterKey: ClusterKey | null;
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
  /** The hosts other nodes reach this one on (its certificate's names). */
  readonly hosts: readonly string[];
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
    this.#loaded?.peerClient.close();
    this.#loaded = null;
    return Promise.resolve();
  }

  /**
   * Makes the node's certificate name `host` too (its mesh address), so
   * that other nodes can call its peer port there. A primary signs it with
   * the cluster CA; a secondary asks a primary (`remote`). The new
   * certificate is checked and saved before the peer port serves it; false
   * when it already named `host`.
   */
  async nameHost(host: string, remote: RemoteIssuer): Promise<boolean> {
    const current = this.current;
    const { nodeId } = current.identity;
    const hosts = [...new Set([...this.#options.hosts, host])];
    const fits = (certPem: string, marginMs: number) =>
      nodeCertificateProblem(certPem, {
        nodeId,
        caCertPem: current.caCertPem,
        hosts,
        nowMs: Date.now(),
        marginMs,
      });
    if (await fits(current.nodeTls.certPem, 0) === null) return false;
    const key = await loadOrCreateNodeKey(this.#options.dataDir);
    const certPem = current.cluster === null
      ? await remote(key.publicKeyPem)
      : await issueCertificateFor(
        {
          certPem: current.cluster.caCertPem,
          keyPem: current.cluster.caKeyPem,
        },
        { nodeId, publicKeyPem: key.publicKeyPem, hosts, nowMs: Date.now() },
      );
    const problem = await fits(certPem, 0);
    if (problem !== null) {
      throw new Error(
        `the certificate issued for ${host} does not fit: ${problem}`,
      );
    }
    await saveNodeCertificate(this.#options.dataDir, certPem);
    // The peer client keeps presenting the old certificate: callers are
    // checked by CA and common name only, which both carry alike.
    this.#loaded = { ...current, nodeTls: { certPem, keyPem: key.keyPem } };
    return true;
  }

  async #loadPrimary(): Promise<NodeCredentials> {
    const { dataDir, name } = this.#options;
    const cluster = await loadClusterIdentity(dataDir);
    const identity = await loadOrCreateNodeIdentity(dataDir, name);
    const nodeTls = await ensurePrimaryNodeTls(dataDir, {
      nodeId: identity.nodeId,
      ca: { certPem: cluster.caCertPem, keyPem: cluster.caKeyPem },
      hosts: this.#options.hosts,
      nowMs: Date.now(),
    });
    return {
      identity,
      clusterId: cluster.clusterId,
      caCertPem: cluster.caCertPem,
      caFingerprintSha256: (await readCertificate(cluster.caCertPem))
        .fingerprintSha256,
      nodeTls,
      peerClient: peerClientOf(cluster.caCertPem, nodeTls),
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
    const identity = await loadOrCreateNodeIdentity(dataDir, name);
    const nodeTls = await loadJoinedNodeTls(dataDir, {
      nodeId: identity.nodeId,
      caCertPem: joined.caCertPem,
      hosts: this.#options.hosts,
      nowMs: Date.now(),
    });
    return {
      identity,
      clusterId: joined.clusterId,
      caCertPem: joined.caCertPem,
      caFingerprintSha256: (await readCertificate(joined.caCertPem))
        .fingerprintSha256,
      nodeTls,
      peerClient: peerClientOf(joined.caCertPem, nodeTls),
      clusterKey: null,
      cluster: null,
      joinedPrimaries: joined.primaries,
    };
  }
}

function peerClientOf(caCertPem: string, tls: NodeTls): Deno.HttpClient {
  return Deno.createHttpClient({
    caCerts: [caCertPem],
    cert: tls.certPem,
    key: tls.keyPem,
  });
}
