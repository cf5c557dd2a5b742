/**
 * `mill up -f`'s deploy: the config to `POST /v1/deploy`, one line per
 * event of its SSE stream, exit 1 when it failed.
 */
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import type { ApiClient } from "../_api.ts";

type Data = Record<string, unknown>;

/** One line for a deploy event; null for events not shown. */
export function deployEventLine(event: string, data: Data): string | null {
  const seconds = (ms: unknown) => `${(Number(ms) / 1000).toFixed(1)}s`;
  switch (event) {
    case "phase": {
      const where = data.node === null || data.node === undefined
        ? ""
        : ` on ${data.node}`;
      const message = data.message === "" || data.message === undefined
        ? ""
        : ` (${data.message})`;
      return `  ${data.service}: ${data.phase}${where}${message}`;
    }
    case "done":
      return `  deployed (${seconds(data.elapsedMs)})`;
    case "failed": {
      const lines = [
        `  deploy failed${
          data.service === null ? "" : `: ${data.service}`
        }: ${data.reason} [${data.code}]`,
      ];
      for (const line of (data.logLines ?? []) as string[]) {
        lines.push(`    | ${line}`);
      }
      return lines.join("\n");
    }
    default:
      return null;
  }
}

/** Deploys `text` through `client`; the exit status. */
export async function deployThrough(
  client: ApiClient,
  text: string,
  file: string,
  output: Output,
): Promise<number> {
  let code: number = EXIT.failure;
  await client.events(
    "POST",
    `/v1/deploy?file=${encodeURIComponent(file)}`,
    { body: text, contentType: "text/plain; charset=utf-8" },
    (event) => {
      const line = deployEventLine(event.event, event.data as Data);
      if (line !== null) output.line(line);
      if (event.event === "done") code = EXIT.ok;
    },
  );
  return code;
}
