/** `mill remove`: delete a drained node from the cluster. */

import { needsCluster } from "../_pending.ts";

export const removeCommand = needsCluster({
  name: "remove",
  summary: "(not built yet) remove a drained node from the cluster",
  details:
    "Refused while the node still has active allocations: drain it first.",
  arguments: [{
    name: "node",
    description: "the node to remove",
    required: true,
  }],
});
