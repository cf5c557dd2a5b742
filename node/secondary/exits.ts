/**
 * Pure helpers of the secondary: container ids from alloc ids, exit
 * statuses to exit causes, exit causes to the FSM's alloc reports.
 */
import type { AllocReport } from "../../raft/mod.ts";
import type { ExitCause } from "../restart/mod.ts";

const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  6: "SIGABRT",
  9: "SIGKILL",
  10: "SIGUSR1",
  12: "SIGUSR2",
  15: "SIGTERM",
};

/**
 * The containerd container id of an alloc: alloc ids may hold `:`, which
 * container ids may not; every other character is kept.
 */
export function containerIdOf(allocId: string): string {
  const id = allocId.replace(/[^A-Za-z0-9_.-]/g, "_");
  return /^[A-Za-z0-9]/.test(id) ? id : `a${id}`;
}

/**
 * How a task ended, from its exit status: 128 + n is death by signal n
 * (as shells and containerd report it), anything else an exit code.
 */
export function exitCauseOf(exitStatus: number, oom: boolean): ExitCause {
  if (oom) return { kind: "oom" };
  if (exitStatus > 128 && exitStatus <= 128 + 64) {
    const signal = exitStatus - 128;
    return { kind: "killed", signal: SIGNAL_NAMES[signal] ?? `SIG${signal}` };
  }
  return { kind: "exited", code: exitStatus };
}

/** The exit code the leader records: the status, or 128 + signal. */
export function exitCodeOf(exit: ExitCause): number | null {
  switch (exit.kind) {
    case "exited":
      return exit.code;
    case "killed": {
      const entry = Object.entries(SIGNAL_NAMES).find(([, name]) =>
        name === exit.signal
      );
      return entry === undefined ? null : 128 + Number(entry[0]);
    }
    case "oom":
      return 137;
    default:
      return null;
  }
}

/** What an exit that is not restarted becomes in the FSM. */
export function reportOfExit(allocId: string, exit: ExitCause): AllocReport {
  const code = exitCodeOf(exit);
  const clean = (exit.kind === "exited" && exit.code === 0) ||
    exit.kind === "stopped";
  return {
    allocId,
    status: clean ? "stopped" : "failed",
    ...(code === null ? {} : { exitCode: code }),
    message: describeExitCause(exit),
  };
}

/**
 * What an exit that will be restarted becomes in the FSM: `restarting`
 * (never healthy while nothing runs) with the exit code and when the next
 * attempt is due.
 */
export function reportOfRestart(
  allocId: string,
  exit: ExitCause,
  delayMs: number,
  nowMs: number,
): AllocReport {
  const code = exitCodeOf(exit);
  const seconds = Math.round(delayMs / 100) / 10;
  return {
    allocId,
    status: "restarting",
    ...(code === null ? {} : { exitCode: code }),
    message: `${describeExitCause(exit)}; next attempt in ${seconds} s, at ${
      new Date(nowMs + delayMs).toISOString()
    }`,
  };
}

/** `exited with code 3`, `killed by SIGKILL`, `out of memory`… */
export function describeExitCause(exit: ExitCause): string {
  switch (exit.kind) {
    case "exited":
      return `exited with code ${exit.code}`;
    case "killed":
      return `killed by ${exit.signal}`;
    case "oom":
      return "killed: out of memory";
    case "start-failed":
      return "could not start";
    case "unhealthy":
      return "killed: unhealthy";
    case "stopped":
      return "stopped by mill";
    default: {
      const _exhaustive: never = exit;
      throw new Error(`unknown exit ${String(_exhaustive)}`);
    }
  }
}
