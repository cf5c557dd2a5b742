/** `mill join`: add this machine to an existing cluster. */

import { needsCluster } from "../_pending.ts";

export const joinCommand = needsCluster({
  name: "join",
  summary: "join this machine to an existing cluster",
  arguments: [{
    name: "address",
    description: "address of a node of the cluster",
    required: true,
  }],
  options: [
    {
      flags: "--token <token>",
      description: "the join token printed by mill init",
      required: true,
    },
    {
      flags: "--role <roles>",
      description: "primary, secondary or both",
      defaultValue: "primary,secondary",
    },
  ],
});
