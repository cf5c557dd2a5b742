/** `mill deploy -f FILE`: roll a config out to the cluster. */

import { JSON_OPTION } from "../command.ts";
import { needsClusterWithConfig } from "../_pending.ts";

export const deployCommand = needsClusterWithConfig({
  name: "deploy",
  summary: "deploy a config file to the cluster",
  details:
    "Validates the file, sends it to the leader and streams progress: pulls,\n" +
    "placements, health. Any service failing its health checks rolls back.",
  options: [
    {
      flags: "-f, --file <path>",
      description: "the .mill config file",
      required: true,
    },
    JSON_OPTION,
  ],
});
