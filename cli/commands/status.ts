/** `mill status`: the cluster at a glance. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";
import { renderStatus } from "./status_tables.ts";

export const statusCommand: CommandSpec = {
  name: "status",
  summary: "show nodes, services and their health",
  options: [JSON_OPTION],
  run: (context) => {
    const json = flag(context, "json");
    return withApi(context.output, json, async (client) => {
      const status = await client.json("GET", "/v1/status");
      if (json) context.output.line(JSON.stringify(status));
      else {
        for (const line of renderStatus(status as Record<string, unknown>)) {
          context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};
