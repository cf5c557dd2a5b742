/** `mill spawn TASK`: run a task of the deployed config once. */

import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  type RunContext,
} from "../command.ts";
import { seconds } from "../deploy_progress.ts";
import { EXIT } from "../exit_codes.ts";
import { withApi } from "../_api.ts";

/** The exit status when mill could not run the task at all (as `docker run`). */
export const SPAWN_FAILED_EXIT = 125;

export const spawnCommand: CommandSpec = {
  name: "spawn",
  summary: "run a task once and report its exit code",
  details:
    "Places, pulls and starts one run of a task of the deployed config, streams its\n" +
    "output (stdout to stdout, stderr to stderr) and exits with the task's exit code:\n" +
    "its own code, 128+N when killed by signal N (137 when out of memory).\n" +
    `${SPAWN_FAILED_EXIT} when mill could not run it (unknown task, no room, pull or start\n` +
    "failure), 3 when no cluster is reachable. Tasks are never restarted.\n" +
    "With --detach, returns once the task runs; with --json prints events as JSON lines.",
  arguments: [{
    name: "task",
    description: "name of a task in the deployed config",
    required: true,
  }],
  options: [{
    flags: "--detach",
    description: "return once started, without waiting",
  }, JSON_OPTION],
  run: spawn,
};

function spawn(context: RunContext): Promise<number> {
  const { output } = context;
  const task = context.args[0] ?? "";
  const json = flag(context, "json");
  const detach = flag(context, "detach");
  return withApi(output, json, async (client) => {
    let status: number = SPAWN_FAILED_EXIT;
    let ended = false;
    await client.events(
      "POST",
      "/v1/tasks",
      {
        body: JSON.stringify({ task, detach }),
        contentType: "application/json",
      },
      (event) => {
        const data = (typeof event.data === "object" && event.data !== null
          ? event.data
          : {}) as Record<string, unknown>;
        if (json) {
          output.line(JSON.stringify({ ...data, type: event.event }));
        }
        switch (event.event) {
          case "output":
            if (json) {
              break;
            }
            if (data.stream === "stderr") {
              output.error(String(data.line));
            } else output.line(String(data.line));
            break;
          case "phase":
            if (detach && data.phase === "running") {
              ended = true;
              status = EXIT.ok;
              if (!json) {
                output.error(`${task}: running as ${String(data.allocId)}`);
              }
            }
            break;
          case "exit":
            ended = true;
            status = typeof data.exitCode === "number" ? data.exitCode : 1;
            if (!json && status !== 0) {
              output.error(
                `${task}: exit code ${status} (${seconds(data.elapsedMs)})`,
              );
            }
            break;
          case "failed":
            ended = true;
            if (!json) {
              output.error(
                `error[${String(data.code)}]: ${String(data.message)}`,
              );
            }
            break;
        }
      },
    );
    if (!ended) {
      output.error(
        `error[cli.stream_cut]: The task's stream ended before the task did; see "mill ps"`,
      );
      return SPAWN_FAILED_EXIT;
    }
    return status;
  });
}
