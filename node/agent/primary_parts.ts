/**
 * The parts only a primary has, built for the composition root
 * (root.ts): the leader duties, the watch stream, the API and the routes
 * its peer port serves for the others.
 */
import { type Command, encodeSnapshot, type FsmNode } from "../../raft/mod.ts";
import {
  type Coordinator,
  createCoordinator,
  type DeployContext,
} from "../deploy/mod.ts";
import type { SecondaryRuntime } from "../rpc/mod.ts";
import type { ClusterKey } from "../secrets/mod.ts";
import { ApiService } from "./api_service.ts";
import { commitCommand } from "./cluster_commit.ts";
import { Credentials } from "./credentials.ts";
import { ContainerCheck } from "./leader/container_check.ts";
import { DeployDuty } from "./leader/deploys.ts";
import { HealthDuty } from "./leader/health_duty.ts";
import { Leadership } from "./leader/leadership.ts";
import { NodeMessages } from "./leader/node_messages.ts";
import {
  HEARTBEAT_TIMEOUT_MS_DEFAULT,
  StaleNodes,
} from "./leader/stale_nodes.ts";
import { Strays } from "./leader/strays.ts";
import { NodeMesh } from "../network/node_mesh.ts";
import {
  MESH_CERTIFICATE_PATH,
  meshCertificateHandler,
} from "./mesh_certificate_route.ts";
import { type AgentLog, type AgentOptions } from "./options.ts";
import { advertiseHostOf, PeerServer } from "./peer_server.ts";
import { primaryChannel, Promotion } from "./primaries.ts";
import { PrimaryPeerRoutes } from "./primary_peer_routes.ts";
import { RaftMember } from "./raft_member.ts";
import { NodeRuntimes } from "./runtimes.ts";
import { CertificateDuty } from "../ingress/certificate_duty.ts";
import {
  INGRESS_CERTIFICATES_PATH,
  ingressCertificatesHandler,
} from "../ingress/certificate_keys.ts";
import { MountedRoute } from "./mounted_route.ts";
import { StorageService } from "./storage_service.ts";
import { StateWatchHub } from "./state_watch.ts";
import { type Service } from "./supervisor.ts";

/** How long a deploy request waits for a leader still catching up. */
const COORDINATOR_WAIT_MS = 5_000;

/** What a primary's leader duties offer the rest of the process (and tests). */
export interface LeaderHandle {
  /** True while this node leads and its duties run. */
  readonly isLeader: boolean;
  /** This term's deploy coordinator; null while not leading. */
  readonly coordinator: Coordinator | null;
  /** Settles once this term's coordinator recovered the deploys in flight. */
  readonly recovered: Promise<void>;
  commit: DeployContext["commit"];
  runtime(nodeId: string): SecondaryRuntime;
  deployContext(): DeployContext;
}

function randomId(): string {
  return [...crypto.getRandomValues(new Uint8Array(5))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

export interface PrimaryParts {
  readonly parts: readonly Service[];
  readonly api: ApiService;
  readonly channel: ReturnType<typeof primaryChannel>;
  readonly handle: LeaderHandle;
  readonly promotion: Promotion;
}

/** The parts only a primary has: the leader duties, the watch stream, the API. */
export function buildPrimary(context: {
  readonly options: AgentOptions;
  readonly raftMember: RaftMember;
  readonly credentials: Credentials;
  readonly peerServer: PeerServer;
  readonly runtimes: NodeRuntimes;
  readonly mesh: NodeMesh | null;
  readonly peerEndpoint: (node: FsmNode) => string | null;
  readonly tickMs: number;
  readonly nowMs: () => number;
  readonly log: AgentLog;
}): PrimaryParts {
  const { options, raftMember, credentials, runtimes, nowMs, log } = context;
  const fsm = raftMember.fsm;
  const state = () => fsm.state;
  const commit = (command: Command) => commitCommand(raftMember.raft, command);
  const runtime = (nodeId: string) => runtimes.runtime(nodeId);
  const storage = new StorageService({
    provider: options.storage ?? { provider: "local" },
    dir: `${options.dataDir}/local-volumes`,
    clusterKey: () => primaryClusterKey(credentials),
    clusterId: () => credentials.current.clusterId,
    selfId: () => credentials.current.identity.nodeId,
    state,
    commit,
    nowMs,
    log,
  });
  const deployContext = (): DeployContext => ({
    state,
    commit,
    runtime,
    volumeSteps: () => storage.steps,
    encryptedSecret: (name) => {
      const secret = fsm.state.secrets.get(name);
      return secret === undefined
        ? undefined
        : { ciphertext: secret.ciphertext, nonce: secret.nonce };
    },
    clusterKey: () => primaryClusterKey(credentials),
    nowMs,
    newId: randomId,
    probeHost: (nodeId) => runtimes.probeHost(nodeId),
    log,
  });

  const deploys = new DeployDuty({
    context: deployContext,
    create: createCoordinator,
    log,
  });
  const strays = new Strays({ runtime, nowMs, log });
  const containerCheck = new ContainerCheck({ commit, nowMs, log });
  const messages = new NodeMessages({
    state,
    commit,
    observers: [strays.observe, containerCheck.observe],
    nowMs,
    log,
  });
  const leadership = new Leadership({
    role: () => raftMember.raft.status,
    caughtUp: async () => {
      await raftMember.raft.readBarrier();
    },
    duties: [
      messages,
      deploys,
      strays,
      containerCheck,
      new StaleNodes({
        state,
        commit,
        coordinator: () => deploys.current,
        heartbeatTimeoutMs: options.heartbeat?.timeoutMs ??
          HEARTBEAT_TIMEOUT_MS_DEFAULT,
        checkEveryMs: context.tickMs,
        selfId: () => credentials.current.identity.nodeId,
        nowMs,
        log,
      }),
      new HealthDuty({
        state,
        commit,
        probeHost: (nodeId) => runtimes.probeHost(nodeId),
        tickMs: context.tickMs,
        nowMs,
        log: (message) => log("warn", message),
      }),
      new CertificateDuty({
        state,
        commit,
        clusterKey: () => primaryClusterKey(credentials),
        selfId: () => credentials.current.identity.nodeId,
        nowMs,
        log,
      }),
    ],
    pollMs: context.tickMs,
    log,
  });
  raftMember.onRoleChange(() => leadership.check());
  const watch = new StateWatchHub({ fsm, encodeSnapshot });
  const peerRoutes = new PrimaryPeerRoutes({
    router: context.peerServer.router,
    messages,
    isLeader: () => leadership.isLeader,
    raft: () => raftMember.raft,
    watch,
    log,
  });
  const api = new ApiService({
    ...(options.api?.listen === undefined
      ? {}
      : { listen: options.api.listen }),
    advertiseHost: advertiseHostOf(options.peer),
    cluster: () => credentials.current.cluster!,
    caFingerprintSha256: () => credentials.current.caFingerprintSha256,
    volumeSteps: () => storage.steps,
    clusterKey: () => primaryClusterKey(credentials),
    nodeId: () => credentials.current.identity.nodeId,
    nodeName: () => credentials.current.identity.name,
    raft: () => raftMember.raft,
    state,
    // The API follows Raft's role; duties may lag it by one transition.
    isLeader: () => raftMember.raft.status.role === "leader",
    commit,
    runtime,
    coordinator: () => {
      leadership.check(); // a leader of a few ms starts its duties now
      return deploys.whenCurrent(COORDINATOR_WAIT_MS);
    },
    ...(context.mesh === null ? {} : {
      meshHandshakes: async () =>
        new Map(
          (await context.mesh!.status()).map((
            peer,
          ) => [peer.publicKey, peer.latestHandshakeMs]),
        ),
    }),
    peerEndpoint: () => context.peerServer.endpoint,
    peerRouter: context.peerServer.router,
    log,
  });
  const promotion = new Promotion({
    raft: () => raftMember.raft,
    nodeId: () => credentials.current.identity.nodeId,
    grant: () => raftMember.joinGrant,
    peerClient: () => credentials.current.peerClient,
    log,
  });
  return {
    parts: [
      storage,
      watch,
      peerRoutes,
      new MountedRoute("mesh-certificate-route", {
        router: context.peerServer.router,
        method: "POST",
        path: MESH_CERTIFICATE_PATH,
        handler: meshCertificateHandler({
          state,
          cluster: () => credentials.current.cluster!,
          log,
        }),
        scope: "node",
      }),
      new MountedRoute("ingress-certificates-route", {
        router: context.peerServer.router,
        method: "GET",
        path: INGRESS_CERTIFICATES_PATH,
        handler: ingressCertificatesHandler({
          state,
          clusterKey: () => primaryClusterKey(credentials),
        }),
        scope: "node",
      }),
      leadership,
      api,
    ],
    api,
    channel: primaryChannel({
      isLeader: () => leadership.isLeader,
      messages,
      raft: () => raftMember.raft,
      state,
      peerClient: () => credentials.current.peerClient,
      peerEndpoint: context.peerEndpoint,
    }),
    handle: {
      get isLeader() {
        return leadership.isLeader;
      },
      get coordinator() {
        leadership.check();
        return deploys.current;
      },
      get recovered() {
        leadership.check();
        return leadership.settled.then(() => deploys.recovered);
      },
      commit,
      runtime,
      deployContext,
    },
    promotion,
  };
}

/** A primary's cluster key (a secondary has none). */
export function primaryClusterKey(credentials: Credentials): ClusterKey {
  const key = credentials.current.clusterKey;
  if (key === null) throw new Error("a primary without its cluster key");
  return key;
}
