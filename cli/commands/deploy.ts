/** `mill deploy -f FILE`: roll a config out to the cluster; `--cancel` stops the one running. */

import { parseConfig } from "../../config/mod.ts";
import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  type RunContext,
  stringOption,
} from "../command.ts";
import { DeployPrinter, eventData } from "./_deploy_stream.ts";
import { DETACHED_EXIT } from "../deploy_interrupt.ts";
import {
  type DeployAttach,
  Interrupts,
  processAttach,
} from "../deploy_attach.ts";
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
    "Ctrl-C on a terminal asks whether to cancel the deploy (y: it rolls back\n" +
    "and the command follows the rollback; anything else detaches and the deploy\n" +
    "goes on); without a terminal SIGINT detaches. --cancel cancels the deploy\n" +
    "that is running and prints its id.\n" +
    "Exit status: 0 deployed or cancel asked, 1 failed, refused or cancelled,\n" +
    "2 invalid config, 3 no cluster, 130 detached (the deploy goes on).",
  options: [
    {
      flags: "-f, --file <path>",
      description: "the .mill config file (- reads stdin)",
    },
    {
      flags: "--cancel",
      description: "cancel the deploy that is running (it rolls back)",
    },
    JSON_OPTION,
  ],
  run: deploy,
};

async function deploy(context: RunContext): Promise<number> {
  const { output } = context;
  const file = stringOption(context, "file");
  const json = flag(context, "json");
  if (flag(context, "cancel")) {
    if (file !== undefined) {
      output.error("error: give either -f FILE or --cancel, not both");
      return EXIT.usage;
    }
    return await withApi(
      output,
      json,
      (client) => cancel(client, output, json),
    );
  }
  if (file === undefined) {
    output.error(
      "error: mill deploy needs -f FILE (or -f - for stdin), or --cancel",
    );
    return EXIT.usage;
  }
  const read = await readConfigFile(file, output);
  if (!read.ok) return read.code;
  const parsed = parseConfig(read.text, read.name);
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
  return await withApi(
    output,
    json,
    (client) =>
      deployConfigText(client, read.text, read.name, output, json, {
        attach: processAttach(),
      }),
  );
}

/** `POST /v1/deploys/cancel` (`{}` or `{"deployId"}`): the id of the deploy told to stop. */
export async function requestCancel(
  client: ApiClient,
  deployId: string | null,
): Promise<string> {
  const answer = await client.json(
    "POST",
    "/v1/deploys/cancel",
    deployId === null ? {} : { deployId },
  ) as { deployId?: unknown };
  return typeof answer?.deployId === "string"
    ? answer.deployId
    : deployId ?? "?";
}

async function cancel(
  client: ApiClient,
  output: Output,
  json: boolean,
): Promise<number> {
  const deployId = await requestCancel(client, null);
  if (json) {
    output.line(JSON.stringify({ deployId, status: "cancelling" }));
  } else {
    output.line(
      `cancelling deploy ${deployId}: it rolls back; "mill status" shows when it ends`,
    );
  }
  return EXIT.ok;
}

/**
 * Sends `text` to `POST /v1/deploy` and renders its event stream; the exit
 * status (0 deployed, 1 failed, 130 detached). Also used by `mill up -f`.
 * With `attach`, SIGINT asks to cancel or detaches (deploy_interrupt.ts).
 */
export async function deployConfigText(
  client: ApiClient,
  text: string,
  fileName: string,
  output: Output,
  json: boolean,
  options: { readonly attach?: DeployAttach } = {},
): Promise<number> {
  const printer = new DeployPrinter(output, json);
  const stop = new AbortController();
  const signals = [stop.signal, ...(output.closed ? [output.closed] : [])];
  const interrupts = options.attach === undefined ? null : new Interrupts({
    attach: options.attach,
    output,
    cancel: (deployId) => requestCancel(client, deployId),
    detach: () => {
      printer.clearProgress();
      stop.abort();
    },
  });
  try {
    await client.events(
      "POST",
      `/v1/deploy?file=${encodeURIComponent(baseName(fileName))}`,
      {
        body: text,
        contentType: "text/plain; charset=utf-8",
        signal: AbortSignal.any(signals),
      },
      (event) => {
        const data = eventData(event.data);
        printer.note(event.event);
        if (
          interrupts !== null && event.event === "start" &&
          typeof data.deployId === "string"
        ) interrupts.deployId = data.deployId;
        const write = () => printer.write(event.event, data);
        if (interrupts === null) write();
        else interrupts.emit(write);
      },
    );
  } catch (error) {
    if (interrupts?.detached === true) return DETACHED_EXIT;
    if (output.closed?.aborted === true) return printer.status;
    throw error;
  } finally {
    interrupts?.close();
  }
  return printer.finish();
}

function baseName(path: string): string {
  return path.split("/").at(-1) || path;
}
