/** Exit statuses of `mill`, documented in cli/README.md. */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** A runtime failure: I/O error, unexpected error; or `fmt --check` found an unformatted file. */
  failure: 1,
  /** Invalid usage (unknown command or option, missing argument) or an invalid config. */
  usage: 2,
  /** No cluster to talk to (no context, API unreachable). */
  unavailable: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
