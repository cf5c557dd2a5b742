/** `mill nodes`: the cluster's nodes, their resources and heartbeats. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";
import { renderNodes } from "./status_tables.ts";

export const nodesCommand: CommandSpec = {
  name: "nodes",
  summary: "list the cluster's nodes",
  options: [JSON_OPTION],
  run: (context) => {
    const json = flag(context, "json");
    return withApi(context.output, json, async (client) => {
      const answer = await client.json("GET", "/v1/nodes") as {
        nodes: Record<string, unknown>[];
      };
      if (json) context.output.line(JSON.stringify(answer));
      else {
        for (const line of renderNodes(answer.nodes, Date.now())) {
          context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};
