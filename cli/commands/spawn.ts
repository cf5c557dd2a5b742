/** `mill spawn`: run a task of the deployed config once. */

import { JSON_OPTION } from "../command.ts";
import { needsCluster } from "../_pending.ts";

export const spawnCommand = needsCluster({
  name: "spawn",
  summary: "run a task once and report its exit code",
  arguments: [{
    name: "task",
    description: "name of a task in the deployed config",
    required: true,
  }],
  options: [{
    flags: "--detach",
    description: "return once started, without waiting",
  }, JSON_OPTION],
});
