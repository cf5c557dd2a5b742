/** `mill logs`: an allocation's output from the node's ring buffer. */

import { needsCluster } from "../_pending.ts";

export const logsCommand = needsCluster({
  name: "logs",
  summary: "show the logs of a service, task or allocation",
  arguments: [{
    name: "name",
    description: "service, task or allocation id",
    required: true,
  }],
  options: [
    { flags: "--follow", description: "keep printing new lines as they come" },
    {
      flags: "--tail <lines>",
      description: "print only the last lines",
      defaultValue: "100",
    },
  ],
});
