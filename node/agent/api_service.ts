/**
 * A primary's HTTPS API (node/API.md) on the API address, with bearer
 * tokens (admin, join), and the peer port's CA bootstrap
 * (`GET /peer/v1/bootstrap`, public): a joining node learns the cluster CA,
 * which it checks against its join token, and this primary's API URL.
 */
import type { ClusterState, Command, RaftNode } from "../../raft/mod.ts";
import {
  type ApiServer,
  Authenticator,
  jsonResponse,
  type Router,
  startApiServer,
} from "../api/mod.ts";
import type { ClusterIdentity } from "../cluster_init/mod.ts";
import type { CommitResult, Coordinator } from "../deploy/mod.ts";
import { primaryRouter } from "../primary/routes.ts";
import { removeNodeHandler } from "../primary/node_remove_routes.ts";
import {
  deleteVolumeHandler,
  listVolumesHandler,
} from "../primary/volume_routes.ts";
import type { VolumeSteps } from "../deploy/volume_steps.ts";
import {
  cancelDrainHandler,
  drainHandler,
  type DrainRoutesOptions,
} from "../primary/drain_routes.ts";
import { rotateTokenHandler } from "../primary/token_routes.ts";
import type { SecondaryRuntime } from "../rpc/mod.ts";
import type { ClusterKey } from "../secrets/mod.ts";
import { joinHandler } from "./join_route.ts";
import type { Service } from "./supervisor.ts";

export interface ApiServiceOptions {
  /** Default 127.0.0.1 on the cluster's API port. */
  readonly listen?: { readonly hostname: string; readonly port: number };
  /** The host of the API URL when listening on a wildcard address. */
  readonly advertiseHost: string;
  cluster(): ClusterIdentity;
  /** SHA-256 (hex) of the cluster CA certificate. */
  caFingerprintSha256(): string;
  clusterKey(): ClusterKey;
  nodeId(): string;
  nodeName(): string;
  raft(): RaftNode;
  state(): ClusterState;
  isLeader(): boolean;
  commit(command: Command): Promise<CommitResult>;
  runtime(nodeId: string): SecondaryRuntime;
  coordinator(): Promise<Coordinator | null>;
  /** The latest handshake with each mesh peer, by public key (none without a mesh). */
  meshHandshakes?(): Promise<ReadonlyMap<string, number | null>>;
  /** The storage driver's volume steps (none without a provider). */
  volumeSteps?(): VolumeSteps | null;
  /** This node's peer `host:port`, for joining nodes. */
  peerEndpoint(): string;
  readonly peerRouter: Router;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class ApiService implements Service {
  readonly name = "api";
  readonly #options: ApiServiceOptions;
  #server: ApiServer | null = null;
  #forwardClient: Deno.HttpClient | null = null;
  #unmount: (() => void) | null = null;
  #url: string | null = null;

  constructor(options: ApiServiceOptions) {
    this.#options = options;
  }

  /** The API's base URL (valid once started). */
  get url(): string {
    if (this.#url === null) throw new Error("the API is not started");
    return this.#url;
  }

  get port(): number {
    if (this.#server === null) throw new Error("the API is not started");
    return this.#server.port;
  }

  /**
   * The port the API listens on, or will once started: the container
   * network walls it off and may be set up first (a restarted node knows
   * its subnet at once). Throws only for an ephemeral port not bound yet.
   */
  get guardedPort(): number {
    if (this.#server !== null) return this.#server.port;
    const port = this.#options.listen?.port ??
      this.#options.cluster().apiPort;
    if (port === 0) throw new Error("the API is not started");
    return port;
  }

  async start(): Promise<void> {
    const options = this.#options;
    const cluster = options.cluster();
    const listen = options.listen ??
      { hostname: "127.0.0.1", port: cluster.apiPort };
    const forwardClient = Deno.createHttpClient({
      caCerts: [cluster.caCertPem],
    });
    this.#forwardClient = forwardClient;
    try {
      this.#server = await startApiServer({
        hostname: listen.hostname,
        port: listen.port,
        tls: { certPem: cluster.apiCertPem, keyPem: cluster.apiKeyPem },
        authenticator: new Authenticator([
          { token: cluster.adminToken, scope: "admin" },
          { token: cluster.joinToken, scope: "join" },
        ], () => options.state().tokens),
        router: this.#router(cluster, forwardClient),
        onError: (error, request) =>
          options.log(
            "error",
            `api ${request?.method ?? ""} ${request?.url ?? ""}: ${error}`,
          ),
      });
    } catch (error) {
      forwardClient.close();
      this.#forwardClient = null;
      throw error;
    }
    const server = this.#server;
    const host = ["0.0.0.0", "::"].includes(server.hostname)
      ? options.advertiseHost
      : server.hostname;
    const url = `https://${
      host.includes(":") ? `[${host}]` : host
    }:${server.port}`;
    this.#url = url;
    this.#unmount = options.peerRouter.mount(
      "GET",
      "/peer/v1/bootstrap",
      () => jsonResponse({ caCertPem: cluster.caCertPem, apiUrl: url }),
      { scope: "public" },
    );
  }

  async stop(): Promise<void> {
    this.#unmount?.();
    this.#unmount = null;
    const server = this.#server;
    this.#server = null;
    await server?.shutdown();
    this.#forwardClient?.close();
    this.#forwardClient = null;
  }

  #router(cluster: ClusterIdentity, forwardClient: Deno.HttpClient): Router {
    const options = this.#options;
    const volumeRoutes = {
      state: options.state,
      steps: () => options.volumeSteps?.() ?? null,
      log: (message: string) => options.log("info", message),
    };
    return primaryRouter({
      clusterId: cluster.clusterId,
      nodeName: options.nodeName(),
      state: options.state,
      raft: () => options.raft().status,
      isLeader: options.isLeader,
      readBarrier: () => options.raft().readBarrier(),
      leaderApiUrl: () => {
        const id = options.raft().status.leader;
        return id === null
          ? null
          : options.state().nodes.get(id)?.endpoints.api ?? null;
      },
      commit: options.commit,
      runtime: options.runtime,
      coordinator: options.coordinator,
      ...(options.meshHandshakes === undefined
        ? {}
        : { meshHandshakes: options.meshHandshakes }),
      clusterKey: options.clusterKey(),
      forwardClient,
      nowMs: Date.now,
      rotateToken: rotateTokenHandler({
        commit: options.commit,
        caFingerprintSha256: options.caFingerprintSha256(),
        nowMs: Date.now,
      }),
      removeNode: removeNodeHandler({
        state: options.state,
        selfId: options.nodeId,
        membership: () => options.raft().membership,
        removeMember: async (id) => {
          await options.raft().proposeMembership({ type: "remove", id });
        },
        commit: options.commit,
        nowMs: Date.now,
        log: (message) => options.log("info", message),
      }),
      volumes: {
        list: listVolumesHandler(volumeRoutes),
        delete: deleteVolumeHandler(volumeRoutes),
      },
      drain: drainRoutes({
        state: options.state,
        commit: options.commit,
        coordinator: options.coordinator,
        selfId: options.nodeId,
        voters: () => options.raft().membership.voters,
        transferLeadership: (to) => options.raft().transferLeadership(to),
        nowMs: Date.now,
        log: (message) => options.log("info", message),
      }),
      join: joinHandler({
        cluster,
        raft: options.raft(),
        selfId: options.nodeId(),
        selfPeer: options.peerEndpoint,
        state: options.state,
      }),
    });
  }
}

function drainRoutes(options: DrainRoutesOptions) {
  return { start: drainHandler(options), cancel: cancelDrainHandler(options) };
}
