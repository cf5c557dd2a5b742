/**
 * What `mill agent` and `mill up` need around an agent in this process:
 * its log (stderr or a file) and the signal that stops it.
 */
import type { AgentLog } from "../../node/agent/mod.ts";
import type { Output } from "../output.ts";

export type { AgentLog };

/** A log to `path` (appended), or to the output's stderr. */
export async function agentLog(
  output: Output,
  path: string | undefined,
): Promise<{ log: AgentLog; close(): void }> {
  if (path === undefined) {
    return {
      log: (level, message) =>
        output.error(`${new Date().toISOString()} ${level} ${message}`),
      close: () => {},
    };
  }
  const file = await Deno.open(path, {
    append: true,
    create: true,
    mode: 0o600,
  });
  const encoder = new TextEncoder();
  return {
    log: (level, message) => {
      const bytes = encoder.encode(
        `${new Date().toISOString()} ${level} ${message}\n`,
      );
      for (let written = 0; written < bytes.length;) {
        written += file.writeSync(bytes.subarray(written));
      }
    },
    close: () => file.close(),
  };
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<Deno.Signal> {
  const { promise, resolve } = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => {
      for (const [i, s] of signals.entries()) {
        Deno.removeSignalListener(s, handlers[i]!);
      }
      resolve(signal);
    };
    Deno.addSignalListener(signal, handler);
    return handler;
  });
  return promise;
}
