/** `mill volume list|delete`: the cluster's persistent volumes. */

import type { CommandSpec } from "../command.ts";
import { JSON_OPTION } from "../command.ts";
import { needsCluster } from "../_pending.ts";

export const volumeCommand: CommandSpec = {
  name: "volume",
  summary: "(not built yet) list or delete persistent volumes",
  subcommands: [
    needsCluster({
      name: "list",
      summary: "list volumes with their state, node and cloud id",
      options: [JSON_OPTION],
    }, "volume list"),
    needsCluster({
      name: "delete",
      summary: "destroy a volume no service references any more",
      details:
        "Refused while a service of the deployed config mounts the volume:\n" +
        "remove the volume block, deploy, then delete.",
      arguments: [{
        name: "name",
        description: "the volume to delete",
        required: true,
      }],
    }, "volume delete"),
  ],
};
