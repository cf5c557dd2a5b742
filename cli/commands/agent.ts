/** `mill agent`: the long-running node process. */

import { needsCluster } from "../_pending.ts";

export const agentCommand = needsCluster({
  name: "agent",
  summary: "run the mill agent on this node",
  details:
    "The node process: as primary a Raft voter serving the API, scheduler and\n" +
    "deploy coordinator; as secondary it runs containers through containerd.",
  options: [
    {
      flags: "--role <roles>",
      description: "primary, secondary or both, comma-separated",
      defaultValue: "primary,secondary",
    },
    {
      flags: "--data-dir <path>",
      description: "where mill keeps its state",
      defaultValue: "/var/lib/mill",
    },
  ],
});
