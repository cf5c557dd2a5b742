/**
 * `mill logs`: a service's output from the nodes' ring buffers, and the
 * last lines the nodes kept of its ended allocs (marked `(ended)`).
 */

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
  /** The alloc has ended: its kept last lines. */
  readonly ended?: boolean;
}

/** A line as printed: an ended alloc's always name it, marked `(ended)`. */
export function renderLogLine(line: Line, prefix: boolean): string {
  if (line.ended === true) return `${line.allocId} (ended) | ${line.line}`;
  return prefix ? `${line.allocId} | ${line.line}` : line.line;
}

export const logsCommand: CommandSpec = {
  name: "logs",
  summary:
    "show the logs of a service, task or allocation (ended ones' last lines too)",
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
          context.output.line(renderLogLine(line, prefix));
        }
        return EXIT.ok;
      }
      const seen = new Set<string>();
      // A closed stdout (\`mill logs -f web | head\`) ends the follow.
      const signal = context.output.closed;
      await client.events("GET", path, signal ? { signal } : {}, (event) => {
        if (event.event !== "log") return;
        const line = event.data as Line;
        if (json) {
          context.output.line(JSON.stringify(line));
          return;
        }
        seen.add(line.allocId);
        context.output.line(renderLogLine(line, seen.size > 1));
      });
      return EXIT.ok;
    });
  },
};
