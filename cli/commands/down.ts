/** `mill down`: stop every service (deploy the empty config). */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { withApi } from "../_api.ts";
import { confirmOrExit, YES_OPTION } from "./_confirm.ts";
import { streamDeployEvents } from "./_deploy_stream.ts";

export const downCommand: CommandSpec = {
  name: "down",
  summary: "stop every service: deploy an empty config",
  details:
    "Deploys the empty config (POST /v1/down): every service's allocs stop and\n" +
    "the tasks' definitions go; nodes, secrets and volumes stay. The next\n" +
    "`mill deploy -f FILE` starts the app again. The cluster's machines keep\n" +
    'running; "mill up --clean" removes a local `mill up` cluster altogether.\n' +
    "Asks for confirmation on a terminal; --yes skips it and is needed without\n" +
    "one. Exit status: 0 down, 1 refused, failed or cancelled, 2 usage.",
  options: [YES_OPTION, JSON_OPTION],
  run: async (context) => {
    const { output } = context;
    const json = flag(context, "json");
    const refused = await confirmOrExit(
      output,
      "mill down",
      "Stop every service and remove the tasks from the running config?",
      flag(context, "yes"),
    );
    if (refused !== null) return refused;
    return withApi(
      output,
      json,
      (client) => streamDeployEvents(client, "/v1/down", {}, output, json),
    );
  },
};
