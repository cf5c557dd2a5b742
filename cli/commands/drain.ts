/** `mill drain`: move every allocation off a node. */

import { needsCluster } from "../_pending.ts";

export const drainCommand = needsCluster({
  name: "drain",
  summary:
    "(not built yet) migrate a node's allocations away, stop scheduling on it",
  details:
    "Marks the node unschedulable, detaches its volumes, replaces each service\n" +
    "alloc on a healthy node before stopping the original, and stops its tasks.",
  arguments: [{
    name: "node",
    description: "the node to drain",
    required: true,
  }],
});
