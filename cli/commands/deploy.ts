/** `mill deploy -f FILE`: roll a config out to the cluster. */

import { parseConfig } from "../../config/mod.ts";
import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  type RunContext,
  stringOption,
} from "../command.ts";
import { DeployRenderer } from "../deploy_progress.ts";
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import { readConfigFile } from "../_files.ts";
import { type ApiClient, withApi } from "../_api.ts";
import { renderDiagnostics } from "../render.ts";

export const deployCommand: CommandSpec = {
  name: "deploy",
  summary: "deploy a config file to the cluster",
  details:
    "Validates the file, sends it to the leader and streams progress: placements,\n" +
    "pulls, health, routes; one line per event, a progress line on a terminal and\n" +
    "the total time at the end. Unchanged services are not touched; changed ones\n" +
    "roll one replica at a time. If any new alloc fails its health checks, every\n" +
    "new alloc is stopped and the old ones keep serving; the failing service, the\n" +
    "reason and its last log lines are printed and the exit status is 1.\n" +
    "With --json each event is printed as one JSON line.\n" +
    "Exit status: 0 deployed, 1 failed or refused, 2 invalid config, 3 no cluster.",
  options: [
    {
      flags: "-f, --file <path>",
      description: "the .mill config file",
      required: true,
    },
    JSON_OPTION,
  ],
  run: deploy,
};

async function deploy(context: RunContext): Promise<number> {
  const { output } = context;
  const file = stringOption(context, "file") ?? "";
  const read = await readConfigFile(file, output);
  if (!read.ok) return read.code;
  const parsed = parseConfig(read.text, file);
  if (!parsed.ok) {
    for (
      const line of renderDiagnostics(
        parsed.diagnostics,
        read.text,
        output.colorErr,
      )
    ) {
      output.error(line);
    }
    return EXIT.usage;
  }
  const json = flag(context, "json");
  return await withApi(
    output,
    json,
    (client) => deployConfigText(client, read.text, file, output, json),
  );
}

/**
 * Sends `text` to `POST /v1/deploy` and renders its event stream; the exit
 * status (0 deployed, 1 failed). Also used by `mill up -f`.
 */
export async function deployConfigText(
  client: ApiClient,
  text: string,
  fileName: string,
  output: Output,
  json: boolean,
): Promise<number> {
  const renderer = new DeployRenderer({ color: output.colorOut });
  // A progress line only on a terminal (colour is our sign of one).
  const interactive = output.colorOut && !json;
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) output.writeOut("\r\x1b[2K");
    progressShown = false;
  };
  let status: number = EXIT.failure;
  let ended = false;
  await client.events(
    "POST",
    `/v1/deploy?file=${encodeURIComponent(baseName(fileName))}`,
    { body: text, contentType: "text/plain; charset=utf-8" },
    (event) => {
      const data = isRecord(event.data) ? event.data : {};
      if (event.event === "done") status = EXIT.ok;
      if (event.event === "done" || event.event === "failed") ended = true;
      if (json) {
        output.line(JSON.stringify({ ...data, type: event.event }));
        return;
      }
      const rendered = renderer.render(event.event, data);
      clearProgress();
      for (const line of rendered.lines) output.line(line);
      for (const line of rendered.errors) output.error(line);
      if (interactive && rendered.progress !== null) {
        output.writeOut(rendered.progress);
        progressShown = true;
      }
    },
  );
  clearProgress();
  if (!ended) {
    const message =
      'The deploy stream ended before the deploy did; run "mill status" to see where it stands';
    if (json) {
      output.line(JSON.stringify({ code: "cli.stream_cut", message }));
    } else output.error(`error[cli.stream_cut]: ${message}`);
  }
  return status;
}

function baseName(path: string): string {
  return path.split("/").at(-1) || path;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
