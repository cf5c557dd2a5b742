/** `mill ps`: the allocations of the cluster. */

import { JSON_OPTION } from "../command.ts";
import { needsCluster } from "../_pending.ts";

export const psCommand = needsCluster({
  name: "ps",
  summary: "list allocations (running service replicas and tasks)",
  arguments: [{
    name: "name",
    description: "only this service or task",
    required: false,
  }],
  options: [JSON_OPTION],
});
