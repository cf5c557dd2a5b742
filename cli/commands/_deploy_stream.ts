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

/** One deploy stream's output: lines, the progress line, the end. */
export class DeployPrinter {
  readonly #output: Output;
  readonly #json: boolean;
  readonly #renderer: DeployRenderer;
  /** A progress line only on a terminal (colour is our sign of one). */
  readonly #interactive: boolean;
  #progressShown = false;
  /** EXIT.ok once `done` came. */
  status: number = EXIT.failure;
  /** Whether `done` or `failed` came. */
  ended = false;

  constructor(output: Output, json: boolean) {
    this.#output = output;
    this.#json = json;
    this.#renderer = new DeployRenderer({ color: output.colorOut });
    this.#interactive = output.colorOut && !json;
  }

  /** Notes how the deploy stands; the printing is `write`'s. */
  note(event: string): void {
    if (event === "done") this.status = EXIT.ok;
    if (event === "done" || event === "failed") this.ended = true;
  }

  write(event: string, data: Record<string, unknown>): void {
    const output = this.#output;
    if (this.#json) {
      output.line(JSON.stringify({ ...data, type: event }));
      return;
    }
    const rendered = this.#renderer.render(event, data);
    this.clearProgress();
    for (const line of rendered.lines) output.line(line);
    for (const line of rendered.errors) output.error(line);
    if (this.#interactive && rendered.progress !== null) {
      output.writeOut(rendered.progress);
      this.#progressShown = true;
    }
  }

  clearProgress(): void {
    if (this.#progressShown) this.#output.writeOut("\r\x1b[2K");
    this.#progressShown = false;
  }

  /** After the stream: says so when it was cut before the deploy ended. */
  finish(): number {
    this.clearProgress();
    if (!this.ended) {
      const message =
        'The deploy stream ended before the deploy did; run "mill status" to see where it stands';
      if (this.#json) {
        this.#output.line(JSON.stringify({ code: "cli.stream_cut", message }));
      } else this.#output.error(`error[cli.stream_cut]: ${message}`);
    }
    return this.status;
  }
}

export async function streamDeployEvents(
  client: ApiClient,
  path: string,
  init: { readonly body?: string; readonly contentType?: string },
  output: Output,
  json: boolean,
): Promise<number> {
  const printer = new DeployPrinter(output, json);
  await client.events("POST", path, { ...init }, (event) => {
    printer.note(event.event);
    printer.write(event.event, eventData(event.data));
  });
  return printer.finish();
}

/** An event's data as an object (anything else as none). */
export function eventData(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}
