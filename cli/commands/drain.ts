/** `mill drain NODE`: move every allocation off a node; `--cancel` undoes it. */

import { type CommandSpec, flag, JSON_OPTION } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import { ApiCallError, type ApiClient, withApi } from "../_api.ts";

/** How often the CLI asks again while leadership moves off the drained leader. */
const LEADERSHIP_RETRIES = 5;
const LEADERSHIP_RETRY_MS = 2_000;

export const drainCommand: CommandSpec = {
  name: "drain",
  summary: "migrate a node's allocations away and stop scheduling on it",
  details:
    "Marks the node unschedulable (NodeDrain), replaces each service alloc on\n" +
    "another node, healthy before the original stops, one at a time, and stops\n" +
    "its tasks, printing the progress. A replacement that fails leaves its\n" +
    "original running and the drain fails (exit 1); running it again takes up\n" +
    "what is left. Draining the leader hands leadership to another primary\n" +
    "first. --cancel makes the node schedulable again (what moved stays moved).",
  arguments: [{
    name: "node",
    description: "the node to drain",
    required: true,
  }],
  options: [
    { flags: "--cancel", description: "make the node schedulable again" },
    JSON_OPTION,
  ],
  run: (context) => {
    const json = flag(context, "json");
    const name = encodeURIComponent(context.args[0] ?? "");
    const { output } = context;
    return withApi(output, json, async (client) => {
      if (flag(context, "cancel")) {
        const answer = await client.json(
          "POST",
          `/v1/nodes/${name}/drain/cancel`,
        );
        if (json) output.line(JSON.stringify(answer));
        else output.line(`${context.args[0]} is schedulable again`);
        return EXIT.ok;
      }
      for (let attempt = 0;; attempt++) {
        try {
          return await streamDrain(
            client,
            `/v1/nodes/${name}/drain`,
            output,
            json,
          );
        } catch (error) {
          const moving = error instanceof ApiCallError &&
            error.code === "drain.leadership_moved";
          if (!moving || attempt >= LEADERSHIP_RETRIES) throw error;
          if (!json) output.error(error.message);
          await new Promise((resolve) =>
            setTimeout(resolve, LEADERSHIP_RETRY_MS)
          );
        }
      }
    });
  },
};

async function streamDrain(
  client: ApiClient,
  path: string,
  output: Output,
  json: boolean,
): Promise<number> {
  let status: number = EXIT.failure;
  await client.events("POST", path, {}, ({ event, data }) => {
    const d = data as Record<string, unknown>;
    if (json) {
      output.line(JSON.stringify({ ...d, type: event }));
    } else {
      for (const line of drainLines(event, d)) output.line(line);
    }
    if (event === "done") status = EXIT.ok;
    if (event === "failed" && !json) {
      output.error(`error[${String(d.code)}]: ${String(d.reason)}`);
    }
  });
  return status;
}

/** One event as the lines a person reads. */
export function drainLines(
  event: string,
  d: Record<string, unknown>,
): string[] {
  const list = (value: unknown) =>
    Array.isArray(value) && value.length > 0 ? value.join(", ") : "none";
  switch (event) {
    case "start":
      return [
        `draining ${String(d.node)}: replacing ${list(d.replacing)}; stopping ${
          list(d.stopping)
        }`,
      ];
    case "phase":
      if (d.phase === "volume") {
        return [`  ${String(d.service)}: ${String(d.message)}`];
      }
      return [
        `  ${String(d.service)}${
          d.allocId === null ? "" : ` ${String(d.allocId)}`
        }${d.node === null ? "" : ` on ${String(d.node)}`}: ${String(d.phase)}${
          d.message === "" ? "" : ` (${String(d.message)})`
        }`,
      ];
    case "done":
      return [
        `${String(d.node)} drained: nothing runs there (${
          Math.round(Number(d.elapsedMs) / 100) / 10
        } s); "mill remove ${String(d.node)}" takes it out`,
      ];
    case "failed":
      return [
        `${String(d.node)} not drained; still there: ${list(d.remaining)}`,
      ];
    default:
      return [];
  }
}
