/** `mill ps`: the allocations of the cluster. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";
import { renderAllocs } from "./status_tables.ts";

export const psCommand: CommandSpec = {
  name: "ps",
  summary: "list allocations (running service replicas and tasks)",
  arguments: [{
    name: "name",
    description: "only this service or task",
    required: false,
  }],
  options: [
    {
      flags: "-a, --all",
      description: "include stopped and failed allocations",
    },
    JSON_OPTION,
  ],
  run: (context) => {
    const json = flag(context, "json");
    const name = context.args[0];
    const query = new URLSearchParams();
    if (name !== undefined) query.set("service", name);
    if (flag(context, "all")) query.set("all", "1");
    const search = query.size === 0 ? "" : `?${query}`;
    return withApi(context.output, json, async (client) => {
      const answer = await client.json("GET", `/v1/allocs${search}`) as {
        allocs: Record<string, unknown>[];
      };
      if (json) context.output.line(JSON.stringify(answer));
      else if (answer.allocs.length === 0) {
        context.output.line(
          name === undefined ? "no allocations" : `no allocations of "${name}"`,
        );
      } else {
        for (const line of renderAllocs(answer.allocs)) {
          context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};
