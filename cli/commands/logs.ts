/** `mill logs`: a service's output from the nodes' ring buffers. */

import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  stringOption,
} from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";

interface Line {
  readonly allocId: string;
  readonly time: string;
  readonly stream: string;
  readonly line: string;
}

function render(line: Line, prefix: boolean): string {
  return prefix ? `${line.allocId} | ${line.line}` : line.line;
}

export const logsCommand: CommandSpec = {
  name: "logs",
  summary: "show the logs of a service, task or allocation",
  arguments: [{
    name: "name",
    description: "service, task or allocation id",
    required: true,
  }],
  options: [
    {
      flags: "-f, --follow",
      description: "keep printing new lines as they come",
    },
    {
      flags: "--tail <lines>",
      description: "print only the last lines",
      defaultValue: "100",
    },
    JSON_OPTION,
  ],
  run: (context) => {
    const json = flag(context, "json");
    const name = context.args[0] ?? "";
    const tail = stringOption(context, "tail") ?? "100";
    const follow = flag(context, "follow");
    const path = `/v1/services/${encodeURIComponent(name)}/logs?tail=${
      encodeURIComponent(tail)
    }${follow ? "&follow=1" : ""}`;
    return withApi(context.output, json, async (client) => {
      if (!follow) {
        const answer = await client.json("GET", path) as { lines: Line[] };
        if (json) {
          context.output.line(JSON.stringify(answer));
          return EXIT.ok;
        }
        const prefix = new Set(answer.lines.map((l) => l.allocId)).size > 1;
        for (const line of answer.lines) {
          context.output.line(render(line, prefix));
        }
        return EXIT.ok;
      }
      const seen = new Set<string>();
      await client.events("GET", path, {}, (event) => {
        if (event.event !== "log") return;
        const line = event.data as Line;
        if (json) {
          context.output.line(JSON.stringify(line));
          return;
        }
        seen.add(line.allocId);
        context.output.line(render(line, seen.size > 1));
      });
      return EXIT.ok;
    });
  },
};
