/**
 * What one node itself holds of the cluster state, not what the leader
 * says: the node's own watch stream (`/peer/v1/watch`, served from its own
 * FSM), read with curl inside the node's namespace and the node's own
 * certificate, decoded as a replica decodes it. The API cannot tell this:
 * a follower forwards every request to the leader.
 */
import {
  applyEntry,
  type ClusterState,
  decodeSnapshot,
  emptyState,
} from "../../raft/mod.ts";
import {
  decodeWatchMessage,
  WATCH_PATH,
} from "../../node/agent/_watch_wire.ts";
import { inNetns, run } from "./_run.ts";
import type { BedNode } from "./_node.ts";

export interface NodeState {
  /** The last index the node had applied (as served). */
  readonly index: number;
  readonly state: ClusterState;
}

/**
 * Reads `node`'s stream for `listenMs` (it opens with everything the node
 * holds, then waits for more). `caCert` is the cluster CA's file.
 */
export async function readNodeState(
  node: BedNode,
  caCert: string,
  listenMs = 1_500,
): Promise<NodeState> {
  const result = await run(
    inNetns(node.netns, [
      "curl",
      "-sSN",
      "--max-time",
      String(listenMs / 1000),
      "--cacert",
      caCert,
      "--cert",
      `${node.dataDir}/node.crt`,
      "--key",
      `${node.dataDir}/node.key`,
      `https://${node.peer}${WATCH_PATH}?from=1`,
    ]),
    { timeoutMs: listenMs + 5_000 },
  );
  // 28: the deadline ended the stream, as meant.
  if (result.code !== 0 && result.code !== 28) {
    throw new Error(
      `the watch stream of ${node.name} failed (curl ${result.code}): ${result.stderr}`,
    );
  }
  let state = emptyState();
  let index = 0;
  const lines = result.stdout.split("\n");
  lines.pop(); // an unfinished last line
  for (const line of lines) {
    if (line === "") continue;
    const message = decodeWatchMessage(line);
    if (message.type === "snapshot" && message.index > index) {
      state = decodeSnapshot(message.data);
      index = message.index;
    } else if (message.type === "entry" && message.entry.index > index) {
      state = applyEntry(state, message.entry).state;
      index = message.entry.index;
    }
  }
  if (index === 0) {
    throw new Error(`the watch stream of ${node.name} carried nothing`);
  }
  return { index, state };
}
