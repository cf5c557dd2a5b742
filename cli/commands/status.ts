/** `mill status`: the cluster at a glance. */

import { JSON_OPTION } from "../command.ts";
import { needsCluster } from "../_pending.ts";

export const statusCommand = needsCluster({
  name: "status",
  summary: "show nodes, services and their health",
  options: [JSON_OPTION],
});
