/** `mill nodes`: the nodes of the cluster. */

import { JSON_OPTION } from "../command.ts";
import { needsCluster } from "../_pending.ts";

export const nodesCommand = needsCluster({
  name: "nodes",
  summary: "list the nodes with their status, roles and allocations",
  options: [JSON_OPTION],
});
