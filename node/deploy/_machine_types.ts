/**
 * The deploy machine's vocabulary: its input (the new allocs and old
 * stops of a plan), the events it is fed and the actions it answers with.
 */
import type { DeployPhase } from "./events.ts";

/** A new alloc of this run: a placement the shell commits when told. */
export interface MachineAlloc {
  readonly allocId: string;
  readonly service: string;
  readonly nodeId: string;
  readonly image: string;
  /** The wave whose opening commits it (1 or more). */
  readonly wave: number;
  /** The old alloc it replaces, and how; null for a plain placement. */
  readonly replaces: {
    readonly allocId: string;
    readonly order: "start-first" | "stop-first";
  } | null;
}

/** An old alloc stopped before wave 1 (`first`) or after the last (`last`). */
export interface MachineStop {
  readonly allocId: string;
  readonly service: string;
  readonly reason: string;
  readonly when: "first" | "last";
}

export interface MachineInput {
  readonly allocs: readonly MachineAlloc[];
  readonly stops: readonly MachineStop[];
  readonly atomic: boolean;
}

/** What happened; fed to `step`. */
export type MachineEvent =
  | { readonly type: "scheduled"; readonly allocId: string }
  | {
    readonly type: "pulled";
    readonly nodeId: string;
    readonly image: string;
    readonly cached: boolean;
  }
  | {
    readonly type: "pullFailed";
    readonly nodeId: string;
    readonly image: string;
    readonly reason: string;
  }
  | { readonly type: "started"; readonly allocId: string }
  | { readonly type: "healthy"; readonly allocId: string }
  | {
    readonly type: "allocFailed";
    readonly allocId: string;
    readonly reason: string;
    /** Whether its container was started (and so must be stopped). */
    readonly started: boolean;
    readonly logLines: readonly string[];
  }
  | { readonly type: "stopped"; readonly allocId: string }
  /** Stop the run and roll it back (atomic runs only). */
  | { readonly type: "cancel"; readonly reason: string };

export interface MachineFailure {
  readonly service: string;
  readonly allocId: string | null;
  readonly reason: string;
  readonly logLines: readonly string[];
}

/** What to do; the shell runs actions in the order given. */
export type MachineAction =
  /**
   * Commit the alloc's placement; the `schedule` actions of one step are a
   * wave, committed together (`AllocsScheduled`). Answer `scheduled` or
   * `allocFailed` for each.
   */
  | { readonly type: "schedule"; readonly allocId: string }
  | { readonly type: "pull"; readonly nodeId: string; readonly image: string }
  | { readonly type: "start"; readonly allocId: string }
  | {
    readonly type: "stop";
    readonly allocId: string;
    readonly service: string;
    /** False: never started, only its status is committed. */
    readonly started: boolean;
    readonly finalStatus: "stopped" | "failed";
    readonly reason: string;
  }
  | {
    readonly type: "phase";
    readonly service: string;
    readonly allocId: string;
    readonly phase: DeployPhase;
    readonly message: string;
  }
  | {
    readonly type: "finish";
    readonly outcome: "succeeded" | "rolled_back" | "cancelled";
    /** Failed allocs (the first one is what a rolled-back deploy reports). */
    readonly failures: readonly MachineFailure[];
    /** Old allocs this run stopped (a rollback restores their services). */
    readonly stoppedOld: readonly string[];
  };
