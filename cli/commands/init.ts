/** `mill init`: create a cluster whose first node is this machine. */

import { needsCluster } from "../_pending.ts";

export const initCommand = needsCluster({
  name: "init",
  summary: "create a new cluster with this machine as its first node",
  details:
    "Creates the cluster state, the WireGuard key and the join token on this\n" +
    "machine. The cloud provider drives persistent volumes (create, attach, migrate).",
  options: [
    {
      flags: "--provider <name>",
      description: "cloud provider for volumes: do or local",
      defaultValue: "local",
    },
    {
      flags: "--data-dir <path>",
      description: "where mill keeps its state",
      defaultValue: "/var/lib/mill",
    },
  ],
});
