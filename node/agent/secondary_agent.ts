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
import { loadOrCreateNodeIdentity } from "./identity.ts";
import { loadJoinedIdentity } from "./join.ts";
import type { LogLevel } from "./leader.ts";
import type { NodeLink } from "./node_link.ts";
import { startNodeLink } from "./node_link_start.ts";
import { CleanupStack } from "./_cleanup_stack.ts";
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
  const cleanups = new CleanupStack();
  const stopAll = cleanups.stopAll;
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
    const runtime = opened.runtime;
    const started = startNodeLink({
      identity,
      options,
      advertiseHost,
      peerPort,
      channel: remoteChannel(joined.primaries, joined.rpcToken),
      runtime,
      log: (message) => log("info", message),
    });
    link = started;
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
