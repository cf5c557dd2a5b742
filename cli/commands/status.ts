/** `mill status`: the cluster at a glance. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";
import { renderCertificates, renderStatus } from "./status_tables.ts";

export const statusCommand: CommandSpec = {
  name: "status",
  summary: "show nodes, services and their health",
  options: [JSON_OPTION],
  run: (context) => {
    const json = flag(context, "json");
    return withApi(context.output, json, async (client) => {
      const status = await client.json("GET", "/v1/status");
      const certs = await client.json("GET", "/v1/certs") as {
        certificates: Record<string, unknown>[];
      };
      if (json) {
        context.output.line(
          JSON.stringify({
            ...status as object,
            certificates: certs.certificates,
          }),
        );
      } else {
        for (const line of renderStatus(status as Record<string, unknown>)) {
          context.output.line(line);
        }
        if (certs.certificates.length > 0) {
          context.output.line("");
          for (
            const line of renderCertificates(certs.certificates, Date.now())
          ) context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};
