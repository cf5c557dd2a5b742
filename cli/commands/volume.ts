/** `mill volume list|delete`: the cluster's persistent volumes. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";
import { confirmOrExit, YES_OPTION } from "./_confirm.ts";
import { formatBytes, table } from "./status_tables.ts";

type Row = Record<string, unknown>;

const show = (value: unknown) =>
  value === null || value === undefined ? "-" : String(value);

const listCommand: CommandSpec = {
  name: "list",
  summary: "list volumes with their state, node and cloud id",
  details:
    "NAME, STATE (attached, detached, ready: moving to another node), NODE,\n" +
    "CLOUD ID, SIZE and the SERVICE that mounts it. --orphans also lists the\n" +
    "provider's volumes tagged with this cluster that the cluster does not\n" +
    "know (left by a crash); mill never deletes those by itself.",
  options: [
    { flags: "--orphans", description: "also list unknown tagged volumes" },
    JSON_OPTION,
  ],
  run: (context) => {
    const json = flag(context, "json");
    const orphans = flag(context, "orphans");
    return withApi(context.output, json, async (client) => {
      const answer = await client.json(
        "GET",
        `/v1/volumes${orphans ? "?orphans=1" : ""}`,
      ) as { volumes: Row[]; orphans?: Row[] };
      if (json) {
        context.output.line(JSON.stringify(answer));
        return EXIT.ok;
      }
      const lines = answer.volumes.length === 0 ? ["no volumes"] : table([
        ["NAME", "STATE", "NODE", "CLOUD ID", "SIZE", "SERVICE"],
        ...answer.volumes.map((v) => [
          show(v.name),
          show(v.state),
          show(v.node),
          show(v.cloudId),
          typeof v.sizeBytes === "number" ? formatBytes(v.sizeBytes) : "-",
          show(v.service),
        ]),
      ]);
      for (const line of lines) context.output.line(line);
      if (answer.orphans !== undefined) {
        context.output.line("");
        context.output.line(
          answer.orphans.length === 0
            ? "no orphaned volumes"
            : `orphaned (tagged with this cluster, unknown to it): ${
              answer.orphans.map((o) => `${show(o.name)} (${show(o.cloudId)})`)
                .join(", ")
            }`,
        );
      }
      return EXIT.ok;
    });
  },
};

const deleteCommand: CommandSpec = {
  name: "delete",
  summary: "destroy a volume no service references any more",
  details:
    "Refused while a service of the deployed config mounts the volume:\n" +
    "remove the volume block, deploy, then delete. --snapshot takes a\n" +
    "snapshot first (its id is printed). Asks for confirmation on a\n" +
    "terminal; --yes skips it and is needed without one.",
  arguments: [{
    name: "name",
    description: "the volume to delete",
    required: true,
  }],
  options: [
    { flags: "--snapshot", description: "take a snapshot before deleting" },
    YES_OPTION,
    JSON_OPTION,
  ],
  run: async (context) => {
    const { output } = context;
    const json = flag(context, "json");
    const name = context.args[0] ?? "";
    const refused = await confirmOrExit(
      output,
      "mill volume delete",
      `Destroy volume "${name}" and its data${
        flag(context, "snapshot") ? " (after a snapshot)" : ""
      }?`,
      flag(context, "yes"),
    );
    if (refused !== null) return refused;
    return withApi(output, json, async (client) => {
      const answer = await client.json(
        "DELETE",
        `/v1/volumes/${encodeURIComponent(name)}${
          flag(context, "snapshot") ? "?snapshot=1" : ""
        }`,
      ) as { name: string; snapshotId: string | null };
      if (json) output.line(JSON.stringify(answer));
      else {
        output.line(
          `volume ${answer.name} destroyed${
            answer.snapshotId === null
              ? ""
              : `; snapshot ${answer.snapshotId} kept`
          }`,
        );
      }
      return EXIT.ok;
    });
  },
};

export const volumeCommand: CommandSpec = {
  name: "volume",
  summary: "list or delete persistent volumes",
  subcommands: [listCommand, deleteCommand],
};
