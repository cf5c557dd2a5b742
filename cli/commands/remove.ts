/** `mill remove NODE`: take a node out of the cluster for good. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";
import { confirmOrExit, YES_OPTION } from "./_confirm.ts";

export const removeCommand: CommandSpec = {
  name: "remove",
  summary: "remove a node that is down (or drained) from the cluster",
  details:
    "Deletes the node from the cluster state (DELETE /v1/nodes/NAME): every\n" +
    "other node drops its WireGuard peer, routes and DNS names, and a primary\n" +
    "leaves the Raft membership first, so it no longer counts for the quorum.\n" +
    "Refused while the node is ready (stop its agent first), while it still has\n" +
    "active allocations or attached volumes, and for the leader itself.\n" +
    "A removed node cannot come back under its name: wipe its data dir and join\n" +
    "it again. Asks for confirmation on a terminal; --yes skips it and is needed\n" +
    "without one. Exit status: 0 removed, 1 refused or failed, 2 usage.",
  arguments: [{
    name: "node",
    description: "the node to remove",
    required: true,
  }],
  options: [YES_OPTION, JSON_OPTION],
  run: async (context) => {
    const { output } = context;
    const json = flag(context, "json");
    const name = context.args[0] ?? "";
    const refused = await confirmOrExit(
      output,
      "mill remove",
      `Remove node "${name}" from the cluster for good?`,
      flag(context, "yes"),
    );
    if (refused !== null) return refused;
    return withApi(output, json, async (client) => {
      const removed = await client.json(
        "DELETE",
        `/v1/nodes/${encodeURIComponent(name)}`,
      ) as { name: string; id: string; wasMember: boolean };
      if (json) {
        output.line(JSON.stringify(removed));
      } else {
        output.line(
          `removed node ${removed.name}${
            removed.wasMember ? " (and its Raft membership)" : ""
          }`,
        );
      }
      return EXIT.ok;
    });
  },
};
