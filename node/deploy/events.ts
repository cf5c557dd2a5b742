/**
 * What a deploy and a spawned task report, in order. These are the `data`
 * of the server-sent events of `POST /v1/deploy` and `POST /v1/tasks` (the
 * SSE `event` name is the `type`); the CLI renders one line per event.
 */
import type { Endpoint, RouteTarget } from "../../raft/fsm/mod.ts";

/** Where an alloc (or a whole service) is in a deploy. */
export type DeployPhase =
  | "unchanged"
  /** Its turn in a rolling update has not come yet. */
  | "waiting"
  | "scheduled"
  | "pulling"
  | "pulled"
  | "starting"
  | "running"
  /** A health check's latest result while it is not healthy yet (message: URL and status or error). */
  | "checking"
  | "healthy"
  | "stopping"
  | "stopped"
  | "failed"
  /** A volume step for the service (message: what was done). */
  | "volume";

/** Most log lines a `failed` event carries. */
export const FAILED_LOG_LINES_MAX = 20;

/** A DNS name and where it resolves now (`<service>.mill`). */
export interface DnsEntry {
  readonly name: string;
  readonly endpoints: readonly Endpoint[];
}

export type DeployEvent =
  /** The deploy was accepted and committed; what it will touch. */
  | {
    readonly type: "start";
    readonly deployId: string;
    readonly added: readonly string[];
    readonly changed: readonly string[];
    readonly removed: readonly string[];
    readonly unchanged: readonly string[];
    /** The same for the config's tasks (a task runs only when spawned). */
    readonly tasks: {
      readonly added: readonly string[];
      readonly changed: readonly string[];
      readonly removed: readonly string[];
    };
    readonly elapsedMs: number;
  }
  /** One alloc (or, with `allocId` null, a whole service) changed phase. */
  | {
    readonly type: "phase";
    readonly service: string;
    readonly allocId: string | null;
    /** The node's name, when the alloc has one. */
    readonly node: string | null;
    readonly phase: DeployPhase;
    /** e.g. "cached", "replaces web-d1-0", "not healthy within 2000 ms, last: HTTP 503". */
    readonly message: string;
    /** Since the deploy began. */
    readonly elapsedMs: number;
  }
  /** Routes and DNS after the deploy, for the proxy and DNS to apply. */
  | {
    readonly type: "routes";
    readonly routes: readonly RouteTarget[];
    readonly dns: readonly DnsEntry[];
    readonly elapsedMs: number;
  }
  /** Every new alloc is healthy and the old ones are stopped. */
  | {
    readonly type: "done";
    readonly deployId: string;
    readonly elapsedMs: number;
  }
  /**
   * Nothing of the deploy is left running (rolled back, or refused before
   * anything started when `deployId` is null).
   */
  | {
    readonly type: "failed";
    readonly deployId: string | null;
    /** Stable: `deploy.unhealthy`, `deploy.unplaced`, `secret.missing`, … */
    readonly code: string;
    /** The service that failed, when one did. */
    readonly service: string | null;
    readonly reason: string;
    /** Its last log lines (oldest first), at most `FAILED_LOG_LINES_MAX`. */
    readonly logLines: readonly string[];
    /** Whether the config before the deploy had services that serve on. */
    readonly previousServing: boolean;
    readonly elapsedMs: number;
  };

export type TaskEvent =
  | {
    readonly type: "phase";
    readonly task: string;
    readonly allocId: string;
    readonly node: string | null;
    readonly phase: "scheduled" | "pulling" | "pulled" | "starting" | "running";
    readonly elapsedMs: number;
  }
  /** One line of the task's output. */
  | {
    readonly type: "output";
    readonly stream: "stdout" | "stderr";
    readonly line: string;
  }
  /** The task ended with `exitCode` (-1: killed by a signal). */
  | {
    readonly type: "exit";
    readonly allocId: string;
    readonly exitCode: number;
    readonly elapsedMs: number;
  }
  /** mill could not run it. */
  | {
    readonly type: "failed";
    readonly code: string;
    readonly message: string;
    readonly elapsedMs: number;
  };

/** What a drain (drain.ts) reports as it goes. */
export type DrainEvent =
  /** What the drain will do. */
  | {
    readonly type: "start";
    readonly node: string;
    /** Service allocs to replace elsewhere. */
    readonly replacing: readonly string[];
    /** Task allocs (and allocs of removed services) to stop. */
    readonly stopping: readonly string[];
    readonly elapsedMs: number;
  }
  /** One alloc changed phase, as in a deploy. */
  | Extract<DeployEvent, { readonly type: "phase" }>
  /** Nothing is left running on the node. */
  | { readonly type: "done"; readonly node: string; readonly elapsedMs: number }
  /** Some allocs could not be moved: they still run on the node. */
  | {
    readonly type: "failed";
    readonly node: string;
    readonly code: string;
    readonly reason: string;
    /** The allocs still running on the node. */
    readonly remaining: readonly string[];
    readonly elapsedMs: number;
  };

export interface DrainOutcome {
  readonly ok: boolean;
  readonly remaining: readonly string[];
}
