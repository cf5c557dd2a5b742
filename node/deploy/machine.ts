/**
 * The deploy state machine: the pure core of a rollout. It is fed what
 * happened (a pull finished, a container started, an alloc became healthy
 * or failed, a stop finished) and answers with what to do next (pull,
 * start, stop, report a phase, finish). No clock, no I/O: the shell in
 * `coordinator.ts` runs the actions and feeds their results back, in any
 * order they complete.
 *
 * Rules (seed 002):
 * - Every (node, image) pair is pulled once, all pairs in parallel, at once.
 * - An alloc starts when its image is on its node and, for a replacement
 *   (`serial`), when the previous replacement of its service is healthy:
 *   changed services roll one replica at a time.
 * - Atomic (a deploy): the first failure rolls back. Every new alloc is
 *   stopped (those not yet started are just marked stopped), nothing old is
 *   touched. Old allocs (`stopsAfter`) are stopped only once every new alloc
 *   is healthy, so a rollback always finds them serving.
 * - Not atomic (a repair): a failed alloc is stopped alone; the rest go on.
 * - `finish` comes exactly once, when nothing is in flight.
 */
import { assert } from "./_assert.ts";
import type { DeployPhase } from "./events.ts";

/** A new alloc of this run, as committed by `AllocScheduled`. */
export interface MachineAlloc {
  readonly allocId: string;
  readonly service: string;
  readonly nodeId: string;
  readonly image: string;
  readonly replacesAllocId: string | null;
  /** Waits for the previous serial alloc of its service to be healthy. */
  readonly serial: boolean;
}

/** An old alloc stopped once every new alloc is healthy. */
export interface MachineStop {
  readonly allocId: string;
  readonly service: string;
  readonly reason: string;
}

export interface MachineInput {
  readonly allocs: readonly MachineAlloc[];
  readonly stopsAfter: readonly MachineStop[];
  readonly atomic: boolean;
}

/** What happened; fed to `step`. */
export type MachineEvent =
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
  | { readonly type: "stopped"; readonly allocId: string };

export interface MachineFailure {
  readonly service: string;
  readonly allocId: string | null;
  readonly reason: string;
  readonly logLines: readonly string[];
}

/** What to do; the shell runs actions in the order given. */
export type MachineAction =
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
    readonly outcome: "succeeded" | "rolled_back";
    /** Failed allocs (the first one is what a rolled-back deploy reports). */
    readonly failures: readonly MachineFailure[];
  };

type AllocPhase =
  | "waiting"
  | "starting"
  | "checking"
  | "healthy"
  | "stopping"
  | "stopped"
  | "failed";

interface AllocSlot {
  readonly alloc: MachineAlloc;
  phase: AllocPhase;
  /** Set during a rollback while its start is in flight: stop once started. */
  stopWhenStarted: boolean;
}

type PullPhase = "pulling" | "done" | "failed";

/** One rollout. Feed it `start()` once, then every event; run what it returns. */
export class DeployMachine {
  readonly #input: MachineInput;
  readonly #slots = new Map<string, AllocSlot>();
  readonly #pulls = new Map<string, PullPhase>();
  readonly #oldStops = new Map<string, "pending" | "stopping" | "stopped">();
  readonly #failures: MachineFailure[] = [];
  #rollingBack = false;
  #committed = false;
  #finished = false;
  #started = false;

  constructor(input: MachineInput) {
    const ids = new Set(input.allocs.map((alloc) => alloc.allocId));
    assert(ids.size === input.allocs.length, "alloc ids are unique");
    for (const stop of input.stopsAfter) {
      assert(!ids.has(stop.allocId), "an old alloc is not also a new one");
    }
    this.#input = input;
    for (const alloc of input.allocs) {
      this.#slots.set(alloc.allocId, {
        alloc,
        phase: "waiting",
        stopWhenStarted: false,
      });
    }
    for (const stop of input.stopsAfter) {
      this.#oldStops.set(stop.allocId, "pending");
    }
  }

  /** True once `finish` was returned. */
  get finished(): boolean {
    return this.#finished;
  }

  /** True after a failure in an atomic run. */
  get rollingBack(): boolean {
    return this.#rollingBack;
  }

  /** The first actions: every pull, and the starts that need none. */
  start(): MachineAction[] {
    assert(!this.#started, "start() is called once");
    this.#started = true;
    const actions: MachineAction[] = [];
    for (const { alloc } of this.#slots.values()) {
      actions.push(this.#phase(alloc, "scheduled", ""));
    }
    for (const { alloc } of this.#slots.values()) {
      const key = pullKey(alloc.nodeId, alloc.image);
      if (!this.#pulls.has(key)) {
        this.#pulls.set(key, "pulling");
        actions.push({
          type: "pull",
          nodeId: alloc.nodeId,
          image: alloc.image,
        });
      }
      actions.push(this.#phase(alloc, "pulling", alloc.image));
    }
    actions.push(...this.#advance());
    return actions;
  }

  /** Feeds one event; returns what to do next. Late or repeated events are ignored. */
  step(event: MachineEvent): MachineAction[] {
    assert(this.#started, "start() comes before step()");
    if (this.#finished) return [];
    const actions: MachineAction[] = [];
    switch (event.type) {
      case "pulled":
      case "pullFailed":
        this.#onPull(event, actions);
        break;
      case "started":
        this.#onStarted(event.allocId, actions);
        break;
      case "healthy":
        this.#onHealthy(event.allocId, actions);
        break;
      case "allocFailed":
        this.#onAllocFailed(event, actions);
        break;
      case "stopped":
        this.#onStopped(event.allocId, actions);
        break;
      default: {
        const _exhaustive: never = event;
        throw new Error(`unknown machine event ${JSON.stringify(_exhaustive)}`);
      }
    }
    actions.push(...this.#advance());
    this.#checkInvariants();
    return actions;
  }

  #onPull(
    event: Extract<MachineEvent, { type: "pulled" | "pullFailed" }>,
    actions: MachineAction[],
  ): void {
    const key = pullKey(event.nodeId, event.image);
    if (this.#pulls.get(key) !== "pulling") return;
    this.#pulls.set(key, event.type === "pulled" ? "done" : "failed");
    for (const slot of this.#slots.values()) {
      const { alloc } = slot;
      if (pullKey(alloc.nodeId, alloc.image) !== key) continue;
      if (slot.phase !== "waiting") continue;
      if (event.type === "pulled") {
        actions.push(
          this.#phase(alloc, "pulled", event.cached ? "cached" : ""),
        );
        continue;
      }
      const reason = `pull of "${event.image}" failed: ${event.reason}`;
      this.#fail(slot, reason, [], false, actions);
    }
  }

  #onStarted(allocId: string, actions: MachineAction[]): void {
    const slot = this.#slots.get(allocId);
    if (slot === undefined || slot.phase !== "starting") return;
    if (slot.stopWhenStarted) {
      this.#stopNew(slot, "stopped", "rolled back", true, actions);
      return;
    }
    slot.phase = "checking";
    actions.push(this.#phase(slot.alloc, "running", ""));
  }

  #onHealthy(allocId: string, actions: MachineAction[]): void {
    const slot = this.#slots.get(allocId);
    if (slot === undefined || slot.phase !== "checking") return;
    slot.phase = "healthy";
    actions.push(this.#phase(slot.alloc, "healthy", ""));
  }

  #onAllocFailed(
    event: Extract<MachineEvent, { type: "allocFailed" }>,
    actions: MachineAction[],
  ): void {
    const slot = this.#slots.get(event.allocId);
    if (slot === undefined) return;
    if (slot.phase !== "starting" && slot.phase !== "checking") return;
    this.#fail(slot, event.reason, event.logLines, event.started, actions);
  }

  #onStopped(allocId: string, actions: MachineAction[]): void {
    const slot = this.#slots.get(allocId);
    if (slot !== undefined) {
      if (slot.phase !== "stopping") return;
      slot.phase = this.#failures.some((f) => f.allocId === allocId)
        ? "failed"
        : "stopped";
      actions.push(this.#phase(slot.alloc, slot.phase, ""));
      return;
    }
    if (this.#oldStops.get(allocId) !== "stopping") return;
    this.#oldStops.set(allocId, "stopped");
    const stop = this.#input.stopsAfter.find((s) => s.allocId === allocId);
    assert(stop !== undefined, "an old stop is one of stopsAfter");
    actions.push({
      type: "phase",
      service: stop.service,
      allocId,
      phase: "stopped",
      message: stop.reason,
    });
  }

  /** Records a failure of a new alloc and stops it (and, if atomic, all the others). */
  #fail(
    slot: AllocSlot,
    reason: string,
    logLines: readonly string[],
    started: boolean,
    actions: MachineAction[],
  ): void {
    const { alloc } = slot;
    this.#failures.push({
      service: alloc.service,
      allocId: alloc.allocId,
      reason,
      logLines,
    });
    actions.push(this.#phase(alloc, "failed", reason));
    this.#stopNew(slot, "failed", reason, started, actions);
    if (this.#input.atomic && !this.#rollingBack) {
      this.#rollingBack = true;
      this.#rollBack(actions);
    }
  }

  #rollBack(actions: MachineAction[]): void {
    for (const slot of this.#slots.values()) {
      switch (slot.phase) {
        case "waiting":
          this.#stopNew(slot, "stopped", "rolled back", false, actions);
          break;
        case "starting":
          slot.stopWhenStarted = true;
          break;
        case "checking":
        case "healthy":
          this.#stopNew(slot, "stopped", "rolled back", true, actions);
          break;
        default:
          break;
      }
    }
  }

  #stopNew(
    slot: AllocSlot,
    finalStatus: "stopped" | "failed",
    reason: string,
    started: boolean,
    actions: MachineAction[],
  ): void {
    slot.phase = "stopping";
    if (finalStatus === "stopped") {
      actions.push(this.#phase(slot.alloc, "stopping", reason));
    }
    actions.push({
      type: "stop",
      allocId: slot.alloc.allocId,
      service: slot.alloc.service,
      started,
      finalStatus,
      reason,
    });
  }

  /** Starts what may start; stops the old allocs at the commit point; finishes. */
  #advance(): MachineAction[] {
    const actions: MachineAction[] = [];
    if (!this.#rollingBack) {
      for (const slot of this.#slots.values()) {
        if (slot.phase === "waiting" && this.#mayStart(slot)) {
          slot.phase = "starting";
          actions.push(this.#phase(slot.alloc, "starting", ""));
          actions.push({ type: "start", allocId: slot.alloc.allocId });
        }
      }
      if (!this.#committed && this.#allNewSettledHealthy()) {
        this.#committed = true;
        for (const stop of this.#input.stopsAfter) {
          this.#oldStops.set(stop.allocId, "stopping");
          actions.push({
            type: "phase",
            service: stop.service,
            allocId: stop.allocId,
            phase: "stopping",
            message: stop.reason,
          });
          actions.push({
            type: "stop",
            allocId: stop.allocId,
            service: stop.service,
            started: true,
            finalStatus: "stopped",
            reason: stop.reason,
          });
        }
      }
    }
    if (this.#idle()) {
      this.#finished = true;
      const outcome = this.#rollingBack ? "rolled_back" : "succeeded";
      actions.push({ type: "finish", outcome, failures: [...this.#failures] });
    }
    return actions;
  }

  #mayStart(slot: AllocSlot): boolean {
    const { alloc } = slot;
    if (this.#pulls.get(pullKey(alloc.nodeId, alloc.image)) !== "done") {
      return false;
    }
    if (!alloc.serial) return true;
    // The earlier serial allocs of the service must be healthy (or, in a
    // repair, out of the way).
    for (const other of this.#slots.values()) {
      if (other === slot) return true;
      if (!other.alloc.serial || other.alloc.service !== alloc.service) {
        continue;
      }
      if (other.phase === "healthy") continue;
      if (!this.#input.atomic && isSettled(other.phase)) continue;
      return false;
    }
    return true;
  }

  /** Every new alloc healthy (or, in a repair, healthy or given up on). */
  #allNewSettledHealthy(): boolean {
    for (const slot of this.#slots.values()) {
      if (slot.phase === "healthy") continue;
      if (!this.#input.atomic && isSettled(slot.phase)) continue;
      return false;
    }
    return true;
  }

  #idle(): boolean {
    for (const phase of this.#pulls.values()) {
      if (phase === "pulling") return false;
    }
    for (const slot of this.#slots.values()) {
      if (!isSettled(slot.phase)) {
        if (this.#rollingBack || slot.phase !== "healthy") return false;
      }
    }
    if (this.#rollingBack) return true;
    if (!this.#committed) return false;
    for (const phase of this.#oldStops.values()) {
      if (phase !== "stopped") return false;
    }
    return true;
  }

  #phase(
    alloc: MachineAlloc,
    phase: DeployPhase,
    message: string,
  ): MachineAction {
    return {
      type: "phase",
      service: alloc.service,
      allocId: alloc.allocId,
      phase,
      message,
    };
  }

  #checkInvariants(): void {
    if (this.#rollingBack) {
      assert(this.#input.atomic, "only an atomic run rolls back");
      for (const phase of this.#oldStops.values()) {
        assert(
          phase === "pending" || !this.#input.atomic,
          "a rollback never touches an old alloc",
        );
      }
    }
    if (this.#committed) {
      for (const slot of this.#slots.values()) {
        assert(
          slot.phase === "healthy" ||
            (!this.#input.atomic && isSettled(slot.phase)),
          "old allocs stop only once every new one is healthy",
        );
      }
    }
  }
}

function isSettled(phase: AllocPhase): boolean {
  return phase === "stopped" || phase === "failed";
}

function pullKey(nodeId: string, image: string): string {
  return `${nodeId}\u0000${image}`;
}
