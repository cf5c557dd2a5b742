/** `mill token rotate join|admin`: replace a cluster token everywhere at once. */

import {
  readCliContextFile,
  saveCliContext,
} from "../../node/cluster_init/mod.ts";
import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { contextPath, loadApiContext, withApi } from "../_api.ts";

const rotateCommand: CommandSpec = {
  name: "rotate",
  summary: "make a new join or admin token; the old one stops working at once",
  details:
    "join: new nodes need the new token (printed in the form mill join takes).\n" +
    "admin: this CLI context is updated to the new token; every other context\n" +
    "and script using the old one must be given the new one.",
  arguments: [{
    name: "kind",
    description: "join or admin",
    required: true,
  }],
  options: [JSON_OPTION],
  run: (context) => {
    const json = flag(context, "json");
    const kind = context.args[0] ?? "";
    if (kind !== "join" && kind !== "admin") {
      context.output.error(
        `error: no token "${kind}"; rotate "join" or "admin"`,
      );
      return Promise.resolve(EXIT.usage);
    }
    return withApi(context.output, json, async (client) => {
      const answer = await client.json(
        "POST",
        `/v1/tokens/${kind}/rotate`,
      ) as { token: string; joinToken: string };
      if (kind === "admin") await updateContextToken(answer.token);
      if (json) {
        context.output.line(
          JSON.stringify({ kind, joinToken: answer.joinToken }),
        );
      } else if (kind === "join") {
        context.output.line(`new join token (the old one no longer works):`);
        context.output.line(`  ${answer.joinToken}`);
      } else {
        context.output.line(
          `admin token rotated; this CLI context now holds the new one`,
        );
        context.output.line(`to join a primary, use: ${answer.joinToken}`);
      }
      return EXIT.ok;
    });
  },
};

/** The current context, with the new admin token. */
async function updateContextToken(token: string): Promise<void> {
  const path = contextPath();
  const file = await readCliContextFile(path);
  const current = await loadApiContext();
  if (file.current === null) return;
  await saveCliContext(path, file.current, { ...current, token });
}

export const tokenCommand: CommandSpec = {
  name: "token",
  summary: "manage the cluster's API tokens",
  subcommands: [rotateCommand],
};
