/** `mill up`: a one-node cluster on this machine running a config. */

import { needsClusterWithConfig } from "../_pending.ts";

export const upCommand = needsClusterWithConfig({
  name: "up",
  summary: "start a one-node cluster here and deploy a config to it",
  details:
    "Runs init, starts the agent in the background and deploys the file:\n" +
    "the quickest way to try mill on one machine. The config is checked first.",
  options: [{
    flags: "-f, --file <path>",
    description: "the .mill config file to deploy",
  }],
});
