/**
 * The deploy state machine: the pure core of a rollout. It is fed what
 * happened (a placement was committed, a pull finished, a container
 * started, an alloc became healthy or failed, a stop finished) and answers
 * with what to do next (schedule, pull, start, stop, report a phase,
 * finish). No clock, no I/O: the shell in `_rollout.ts` runs the actions
 * and feeds their results back, in any order they complete.
 *
 * Rules (seed 002, and the scheduler's waves):
 * - Every (node, image) pair is pulled once, all pairs in parallel, at once.
 * - `first` stops run at once; wave 1 opens when they are done.
 * - A wave opens by stopping its stop-first old allocs; once they are
 *   stopped its placements are committed (`schedule`, one action per alloc,
 *   all of a wave in one step: the shell commits them as one entry, whole
 *   or not at all), in plan order, so the room each one finds is the room
 *   the scheduler counted. Each alloc then learns the outcome: `scheduled`,
 *   or `allocFailed` with the refusal. An alloc starts once it is committed
 *   and its image is on its node.
 * - A start-first old alloc stops as soon as its replacement is healthy:
 *   a roll never holds more than one extra replica per parallel lane.
 * - The next wave opens once every alloc of this one is healthy and every
 *   old alloc it replaces is stopped. After the last wave, the `last`
 *   stops run (removed services, scale-downs) and the run succeeds.
 * - Atomic (a deploy): the first failure (or a cancel) rolls back. Every
 *   new alloc is stopped, placements not yet committed are dropped, and no
 *   other old alloc is touched; the caller restores the old allocs the run
 *   had already stopped (`finish.stoppedOld`).
 * - Not atomic (a repair): a failed alloc is stopped alone; the rest go on.
 * - `finish` comes exactly once, when nothing is in flight.
 */
import { assert } from "./_assert.ts";
import { PullBook } from "./_pulls.ts";
import type { DeployPhase } from "./events.ts";

import type {
  MachineAction,
  MachineAlloc,
  MachineEvent,
  MachineFailure,
  MachineInput,
} from "./_machine_types.ts";

export type * from "./_machine_types.ts";

type AllocPhase =
  | "waiting"
  | "scheduling"
  | "scheduled"
  | "starting"
  | "checking"
  | "healthy"
  | "stopping"
  | "stopped"
  | "failed"
  | "dropped";

interface AllocSlot {
  readonly alloc: MachineAlloc;
  phase: AllocPhase;
  /** Set during a rollback while its commit or start is in flight. */
  stopWhenDone: boolean;
}

interface OldSlot {
  readonly allocId: string;
  readonly service: string;
  readonly reason: string;
  phase: "pending" | "stopping" | "stopped";
}

/** One rollout. Feed it `start()` once, then every event; run what it returns. */
export class DeployMachine {
  readonly #input: MachineInput;
  readonly #slots = new Map<string, AllocSlot>();
  readonly #pulls = new PullBook();
  /** Every old alloc the run may stop, by id. */
  readonly #olds = new Map<string, OldSlot>();
  readonly #lastWave: number;
  readonly #failures: MachineFailure[] = [];
  #wave = 1;
  #waveOpened = false;
  #waveScheduled = false;
  #rollingBack = false;
  #cancelled = false;
  #committed = false;
  #finished = false;
  #started = false;

  constructor(input: MachineInput) {
    const ids = new Set(input.allocs.map((alloc) => alloc.allocId));
    assert(ids.size === input.allocs.length, "alloc ids are unique");
    this.#input = input;
    for (const alloc of input.allocs) {
      assert(
        Number.isInteger(alloc.wave) && alloc.wave >= 1,
        "waves count from 1",
      );
      this.#slots.set(alloc.allocId, {
        alloc,
        phase: "waiting",
        stopWhenDone: false,
      });
      if (alloc.replaces !== null) {
        this.#addOld(
          alloc.replaces.allocId,
          alloc.service,
          `replaced by ${alloc.allocId}`,
        );
      }
    }
    for (const stop of input.stops) {
      this.#addOld(stop.allocId, stop.service, stop.reason);
    }
    this.#lastWave = Math.max(0, ...input.allocs.map((alloc) => alloc.wave));
  }

  #addOld(allocId: string, service: string, reason: string): void {
    assert(!this.#slots.has(allocId), "an old alloc is not also a new one");
    assert(!this.#olds.has(allocId), "an old alloc is stopped once");
    this.#olds.set(allocId, { allocId, service, reason, phase: "pending" });
  }

  /** True once `finish` was returned. */
  get finished(): boolean {
    return this.#finished;
  }

  /** A deploy (true: the first failure rolls back) or a repair. */
  get atomic(): boolean {
    return this.#input.atomic;
  }

  /** True after a failure (or a cancel) in an atomic run. */
  get rollingBack(): boolean {
    return this.#rollingBack;
  }

  /** The first actions: every pull, the `first` stops, wave 1 if it may open. */
  start(): MachineAction[] {
    assert(!this.#started, "start() is called once");
    this.#started = true;
    const actions: MachineAction[] = [];
    for (const { alloc } of this.#slots.values()) {
      const reason = waitingFor(alloc);
      if (reason !== "") actions.push(this.#phase(alloc, "waiting", reason));
    }
    for (const { alloc } of this.#slots.values()) {
      if (!this.#pulls.begin(alloc)) continue;
      actions.push({ type: "pull", nodeId: alloc.nodeId, image: alloc.image });
    }
    for (const stop of this.#input.stops) {
      if (stop.when === "first") this.#stopOld(stop.allocId, actions);
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
      case "scheduled":
        this.#onScheduled(event.allocId, actions);
        break;
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
      case "cancel":
        this.#onCancel(event.reason, actions);
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

  #onScheduled(allocId: string, actions: MachineAction[]): void {
    const slot = this.#slots.get(allocId);
    if (slot === undefined || slot.phase !== "scheduling") return;
    if (slot.stopWhenDone) {
      this.#stopNew(slot, "stopped", "rolled back", false, actions);
      return;
    }
    slot.phase = "scheduled";
    actions.push(this.#phase(slot.alloc, "scheduled", ""));
    const pull = this.#pulls.phase(slot.alloc);
    if (pull === "failed") {
      this.#fail(slot, this.#pulls.failure(slot.alloc), [], false, actions);
      return;
    }
    actions.push(this.#phase(slot.alloc, "pulling", slot.alloc.image));
    if (pull === "done") {
      const cached = this.#pulls.cached(slot.alloc) ? "cached" : "";
      actions.push(this.#phase(slot.alloc, "pulled", cached));
    }
  }

  #onPull(
    event: Extract<MachineEvent, { type: "pulled" | "pullFailed" }>,
    actions: MachineAction[],
  ): void {
    const outcome = event.type === "pulled"
      ? { ok: true as const, cached: event.cached }
      : { ok: false as const, reason: event.reason };
    if (!this.#pulls.end(event, outcome)) return;
    for (const slot of this.#slots.values()) {
      const { alloc } = slot;
      if (!this.#pulls.same(alloc, event)) continue;
      if (event.type === "pullFailed") {
        if (this.#rollingBack) continue;
        // Not worth waiting for its turn: the image cannot be had there.
        if (slot.phase === "waiting" || slot.phase === "scheduled") {
          if (slot.phase === "waiting") slot.phase = "dropped";
          this.#fail(slot, this.#pulls.failure(alloc), [], false, actions);
        }
        continue;
      }
      if (slot.phase === "scheduled") {
        actions.push(
          this.#phase(alloc, "pulled", event.cached ? "cached" : ""),
        );
      }
    }
  }

  #onStarted(allocId: string, actions: MachineAction[]): void {
    const slot = this.#slots.get(allocId);
    if (slot === undefined || slot.phase !== "starting") return;
    if (slot.stopWhenDone) {
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
    if (slot.phase === "scheduling") {
      // The commit was refused: nothing of it exists to stop.
      slot.phase = "dropped";
    } else if (slot.phase !== "starting" && slot.phase !== "checking") {
      return;
    }
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
    const old = this.#olds.get(allocId);
    if (old === undefined || old.phase !== "stopping") return;
    old.phase = "stopped";
    actions.push({
      type: "phase",
      service: old.service,
      allocId,
      phase: "stopped",
      message: old.reason,
    });
  }

  #onCancel(reason: string, actions: MachineAction[]): void {
    // Past the commit point the deploy has succeeded in all but its last
    // stops: too late to cancel.
    if (!this.#input.atomic || this.#rollingBack || this.#committed) return;
    this.#cancelled = true;
    this.#failures.push({
      service: "",
      allocId: null,
      reason,
      logLines: [],
    });
    this.#rollingBack = true;
    this.#rollBack(actions);
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
    if (slot.phase === "dropped") {
      // Never committed: there is nothing to stop.
    } else {
      this.#stopNew(slot, "failed", reason, started, actions);
    }
    if (this.#input.atomic && !this.#rollingBack) {
      this.#rollingBack = true;
      this.#rollBack(actions);
    }
  }

  #rollBack(actions: MachineAction[]): void {
    for (const slot of this.#slots.values()) {
      switch (slot.phase) {
        case "waiting":
          slot.phase = "dropped";
          actions.push(
            this.#phase(slot.alloc, "stopped", "rolled back before its turn"),
          );
          break;
        case "scheduling":
        case "starting":
          slot.stopWhenDone = true;
          break;
        case "scheduled":
          this.#stopNew(slot, "stopped", "rolled back", false, actions);
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

  #stopOld(allocId: string, actions: MachineAction[]): void {
    const old = this.#olds.get(allocId);
    assert(old !== undefined, "an old stop is one of the run's");
    if (old.phase !== "pending") return;
    old.phase = "stopping";
    actions.push({
      type: "phase",
      service: old.service,
      allocId,
      phase: "stopping",
      message: old.reason,
    });
    actions.push({
      type: "stop",
      allocId,
      service: old.service,
      started: true,
      finalStatus: "stopped",
      reason: old.reason,
    });
  }

  /** Opens waves, starts what may start, stops old allocs in turn; finishes. */
  #advance(): MachineAction[] {
    const actions: MachineAction[] = [];
    if (!this.#rollingBack) {
      this.#advanceWaves(actions);
      for (const slot of this.#slots.values()) {
        if (
          slot.phase === "scheduled" && this.#pulls.phase(slot.alloc) === "done"
        ) {
          slot.phase = "starting";
          actions.push(this.#phase(slot.alloc, "starting", ""));
          actions.push({ type: "start", allocId: slot.alloc.allocId });
        }
        const replaces = slot.alloc.replaces;
        if (
          slot.phase === "healthy" && replaces !== null &&
          replaces.order === "start-first"
        ) {
          this.#stopOld(replaces.allocId, actions);
        }
      }
      if (
        !this.#committed && this.#wave > this.#lastWave &&
        this.#allNewSettledHealthy()
      ) {
        this.#committed = true;
        for (const stop of this.#input.stops) {
          if (stop.when === "last") this.#stopOld(stop.allocId, actions);
        }
      }
    }
    if (this.#idle()) {
      this.#finished = true;
      const outcome = this.#cancelled
        ? "cancelled"
        : this.#rollingBack
        ? "rolled_back"
        : "succeeded";
      actions.push({
        type: "finish",
        outcome,
        failures: [...this.#failures],
        stoppedOld: [...this.#olds.values()]
          .filter((old) => old.phase !== "pending")
          .map((old) => old.allocId),
      });
    }
    return actions;
  }

  #advanceWaves(actions: MachineAction[]): void {
    for (const stop of this.#input.stops) {
      if (stop.when === "first" && !this.#oldStopped(stop.allocId)) return;
    }
    while (this.#wave <= this.#lastWave) {
      const wave = this.#slotsOf(this.#wave);
      if (!this.#waveOpened) {
        this.#waveOpened = true;
        for (const { alloc } of wave) {
          if (alloc.replaces?.order === "stop-first") {
            this.#stopOld(alloc.replaces.allocId, actions);
          }
        }
      }
      if (!this.#waveScheduled) {
        const ready = wave.every(({ alloc }) =>
          alloc.replaces?.order !== "stop-first" ||
          this.#oldStopped(alloc.replaces.allocId)
        );
        if (!ready) return;
        this.#waveScheduled = true;
        for (const slot of wave) {
          if (slot.phase !== "waiting") continue;
          slot.phase = "scheduling";
          actions.push({ type: "schedule", allocId: slot.alloc.allocId });
        }
      }
      if (!this.#waveDone(wave)) return;
      this.#wave++;
      this.#waveOpened = false;
      this.#waveScheduled = false;
    }
  }

  #slotsOf(wave: number): AllocSlot[] {
    return [...this.#slots.values()].filter((slot) => slot.alloc.wave === wave);
  }

  /** Every alloc of the wave healthy (a repair: or given up on), its old ones stopped. */
  #waveDone(wave: readonly AllocSlot[]): boolean {
    return wave.every((slot) => {
      if (slot.phase === "healthy") {
        const replaces = slot.alloc.replaces;
        return replaces === null || this.#oldStopped(replaces.allocId);
      }
      return !this.#input.atomic && isSettled(slot.phase);
    });
  }

  #oldStopped(allocId: string): boolean {
    return this.#olds.get(allocId)?.phase === "stopped";
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
    if (this.#pulls.anyRunning) return false;
    for (const old of this.#olds.values()) {
      if (old.phase === "stopping") return false;
    }
    for (const slot of this.#slots.values()) {
      if (isSettled(slot.phase)) continue;
      if (this.#rollingBack || slot.phase !== "healthy") return false;
    }
    if (this.#rollingBack) return true;
    if (!this.#committed) return false;
    for (const old of this.#olds.values()) {
      if (old.phase !== "stopped") return false;
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
    }
    if (this.#committed) {
      for (const slot of this.#slots.values()) {
        assert(
          slot.phase === "healthy" ||
            (!this.#input.atomic && isSettled(slot.phase)),
          "the last stops run only once every new alloc is healthy",
        );
      }
    }
    for (const slot of this.#slots.values()) {
      if (slot.phase === "waiting" || slot.phase === "dropped") continue;
      assert(
        slot.alloc.wave <= this.#wave,
        "no placement is committed before its wave opens",
      );
    }
  }
}

/** Why a placement waits at the start of a run. */
function waitingFor(alloc: MachineAlloc): string {
  if (alloc.replaces?.order === "stop-first") {
    return `stops ${alloc.replaces.allocId} first`;
  }
  if (alloc.wave > 1) return `wave ${alloc.wave}`;
  return "";
}

function isSettled(phase: AllocPhase): boolean {
  return phase === "stopped" || phase === "failed" || phase === "dropped";
}
