/**
 * Renders a deploy's event stream from any endpoint that answers like
 * `POST /v1/deploy` (`/v1/stop`, `/v1/down`): one line per event, a progress
 * line on a terminal, `--json` as one JSON line per event. The exit status:
 * 0 done, 1 failed or cut.
 */
import { DeployRenderer } from "../deploy_progress.ts";
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import type { ApiClient } from "../_api.ts";

export async function streamDeployEvents(
  client: ApiClient,
  path: string,
  init: { readonly body?: string; readonly contentType?: string },
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
  await client.events("POST", path, { ...init }, (event) => {
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
  });
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
