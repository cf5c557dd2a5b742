/** `mill secret set|list|delete`: the cluster's encrypted secrets. */

import type { CommandSpec } from "../command.ts";
import { JSON_OPTION } from "../command.ts";
import { needsCluster } from "../_pending.ts";

export const secretCommand: CommandSpec = {
  name: "secret",
  summary: "set, list or delete secrets referenced as ${secret(name)}",
  subcommands: [
    needsCluster({
      name: "set",
      summary: "store a secret (the value is read from stdin when not given)",
      arguments: [
        {
          name: "name",
          description: "secret name, e.g. db.url",
          required: true,
        },
        {
          name: "value",
          description:
            "the value; prefer stdin to keep it out of shell history",
          required: false,
        },
      ],
    }, "secret set"),
    needsCluster({
      name: "list",
      summary: "list secret names (never values)",
      options: [JSON_OPTION],
    }, "secret list"),
    needsCluster({
      name: "delete",
      summary: "delete a secret",
      arguments: [{
        name: "name",
        description: "the secret to delete",
        required: true,
      }],
    }, "secret delete"),
  ],
};
