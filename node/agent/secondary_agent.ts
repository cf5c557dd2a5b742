/**
 * A secondary-only agent (a node that joined with `--role secondary`): no
 * Raft, no API; its containers, the RPC server on the peer port, and the
 * link to the leader through the primaries' peer ports.
 */
import { emptyState } from "../../raft/mod.ts";
import { createRpcHandler } from "../rpc/mod.ts";
import { readClusterKeyFile } from "../secrets/mod.ts";
import type { Agent, AgentOptions } from "./agent.ts";
import { advertiseHostOf, openRuntime } from "./agent.ts";
import { loadOrCreateNodeIdentity, machineResources } from "./identity.ts";
import { loadJoinedIdentity } from "./join.ts";
import { type LogLevel, PEER_LABEL } from "./leader.ts";
import { NodeLink } from "./node_link.ts";
import { handlePeerRequest, remoteChannel } from "./peer.ts";

export async function startSecondaryAgent(
  options: AgentOptions,
  log: (level: LogLevel, message: string) => void,
): Promise<Agent> {
  const joined = await loadJoinedIdentity(options.dataDir);
  if (joined === null) {
    throw new Error(
      `Data dir "${options.dataDir}" has not joined a cluster; run "mill join" first`,
    );
  }
  const clusterKey = await readClusterKeyFile(`${options.dataDir}/cluster.key`);
  const identity = await loadOrCreateNodeIdentity(
    options.dataDir,
    options.name,
  );
  const cleanups: (() => Promise<void> | void)[] = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    let link: NodeLink | null = null;
    const opened = await openRuntime(
      options,
      clusterKey,
      (report) => link?.report(report),
      log,
    );
    cleanups.push(() => opened.client.close());
    cleanups.push(() => opened.runtime.close());
    const rpcHandler = createRpcHandler({
      token: joined.rpcToken,
      runtime: opened.runtime,
      onError: (error) => log("error", `rpc: ${error}`),
    });
    const listening = Promise.withResolvers<Deno.NetAddr>();
    const server = Deno.serve({
      hostname: options.listen.hostname,
      port: options.listen.port,
      onListen: (addr) => listening.resolve(addr),
    }, (request) =>
      handlePeerRequest(request, {
        raft: null,
        rpcHandler,
        leader: null,
        rpcToken: joined.rpcToken,
        caCertPem: joined.caCertPem,
        apiUrl: () => null,
        log,
      }));
    cleanups.push(() => server.shutdown());
    const peerPort = (await listening.promise).port;
    const advertiseHost = advertiseHostOf(options);
    const resources = machineResources();
    const runtime = opened.runtime;
    link = new NodeLink({
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
        },
      },
      channel: remoteChannel(joined.primaries, joined.rpcToken),
      running: async () =>
        (await runtime.status({}, AbortSignal.timeout(5_000))).allocs
          .filter((a) => a.state === "running").map((a) => a.allocId),
      ...(options.heartbeatIntervalMs === undefined
        ? {}
        : { intervalMs: options.heartbeatIntervalMs }),
      log: (message) => log("info", message),
    });
    const started = link;
    started.start();
    cleanups.push(() => started.stop());
    log(
      "info",
      `secondary ${identity.name} (${identity.nodeId}) of cluster ${joined.clusterId} serving on ${advertiseHost}:${peerPort}`,
    );
    return {
      identity,
      peerPort,
      apiPort: null,
      apiUrl: null,
      leader: null,
      runtime,
      link,
      state: emptyState,
      raftRole: () => null,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
