/** `mill ps`: the allocations of the cluster. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { ApiCallError, type ApiClient, cliFailure, withApi } from "../_api.ts";
import { renderAllocs } from "./status_tables.ts";

export const psCommand: CommandSpec = {
  name: "ps",
  summary: "list allocations (running service replicas and tasks)",
  arguments: [{
    name: "name",
    description: "only this service, task or alloc id",
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
    const all = flag(context, "all");
    const query = new URLSearchParams();
    if (name !== undefined) query.set("service", name);
    if (all) query.set("all", "1");
    const search = query.size === 0 ? "" : `?${query}`;
    return withApi(context.output, json, async (client) => {
      let { allocs } = await client.json("GET", `/v1/allocs${search}`) as {
        allocs: Alloc[];
      };
      if (name !== undefined && allocs.length === 0) {
        const found = await lookUp(client, name);
        if (found === null) {
          const error = new ApiCallError(
            404,
            "ps.not_found",
            `No service, task or alloc named "${name}"; "mill ps" lists them`,
          );
          return cliFailure(error, context.output, json);
        }
        allocs = found;
      }
      if (json) context.output.line(JSON.stringify({ allocs }));
      else if (allocs.length === 0) {
        context.output.line(
          name === undefined
            ? "no allocations"
            : `no ${all ? "" : "running "}allocations of "${name}"${
              all ? "" : "; -a shows ended ones"
            }`,
        );
      } else {
        for (const line of renderAllocs(allocs)) {
          context.output.line(line);
        }
      }
      return EXIT.ok;
    });
  },
};

type Alloc = Record<string, unknown>;

/**
 * A name no alloc's workload matched: the alloc of that id, none for a
 * service or task the cluster knows (as `mill logs` knows them), else null.
 */
async function lookUp(
  client: ApiClient,
  name: string,
): Promise<Alloc[] | null> {
  const { allocs } = await client.json("GET", "/v1/allocs?all=1") as {
    allocs: Alloc[];
  };
  const byId = allocs.filter((a) => a.id === name);
  if (byId.length > 0) return byId;
  if (allocs.some((a) => a.workload === name)) return [];
  const status = await client.json("GET", "/v1/status") as {
    services?: { name?: unknown }[];
    tasks?: unknown[];
  };
  const known = (status.services ?? []).some((s) => s.name === name) ||
    (status.tasks ?? []).includes(name);
  return known ? [] : null;
}
