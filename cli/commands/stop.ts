/** `mill stop SERVICE…`: take services out of the running config. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { withApi } from "../_api.ts";
import { confirmOrExit, YES_OPTION } from "./_confirm.ts";
import { streamDeployEvents } from "./_deploy_stream.ts";

export const stopCommand: CommandSpec = {
  name: "stop",
  summary: "stop services: deploy the current config without them",
  details:
    "Deploys the config the cluster runs without the named services (POST\n" +
    "/v1/stop): their allocs stop, the other services and the tasks are left as\n" +
    "they are, and the deploy's events are printed as `mill deploy` prints them.\n" +
    "The next `mill deploy -f FILE` of a file that has them brings them back.\n" +
    "Asks for confirmation on a terminal; --yes skips it and is needed without\n" +
    "one. Exit status: 0 stopped, 1 refused, failed or cancelled, 2 usage.",
  arguments: [{
    name: "services...",
    description: "the services to stop",
    required: true,
  }],
  options: [YES_OPTION, JSON_OPTION],
  run: async (context) => {
    const { output } = context;
    const json = flag(context, "json");
    const services = [
      ...new Set(context.args.filter((a): a is string => a !== undefined)),
    ];
    const listed = services.map((s) => `"${s}"`).join(", ");
    const refused = await confirmOrExit(
      output,
      "mill stop",
      `Stop ${services.length === 1 ? "service" : "services"} ${listed}? ` +
        "They leave the running config until the next deploy that has them.",
      flag(context, "yes"),
    );
    if (refused !== null) return refused;
    return withApi(output, json, (client) =>
      streamDeployEvents(
        client,
        "/v1/stop",
        {
          body: JSON.stringify({ services }),
          contentType: "application/json",
        },
        output,
        json,
      ));
  },
};
