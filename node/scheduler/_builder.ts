/**
 * Builds one plan: places allocs on the working view (volume pins first,
 * then the best node), emits the steps in order, collects what could not be
 * placed. Shared by deploy, task, repair and drain planning.
 */
import type { Workload } from "../../config/types.ts";
import {
  type Alloc,
  type ClusterState,
  cpuMillisOf,
  isTerminal,
} from "../../raft/fsm/mod.ts";
import type {
  Placement,
  Plan,
  PlanStep,
  ReplaceOrder,
  Unplaced,
  UnplacedCode,
} from "./plan.ts";
import { type Ask, chooseNode, explainRefusal, fits } from "./_choose.ts";
import { ClusterView } from "./_view.ts";

/** How a placement enters the plan. */
export interface PlaceOptions {
  /** Live replicas of the workload per node index; updated on success. */
  readonly spread: Map<number, number>;
  /** The alloc this one takes over from. */
  readonly replaces: Alloc | null;
  /**
   * `replace`: the new alloc takes over from `replaces` (see `order`).
   * `place`: just place (`replaces` is already gone or stopped earlier).
   */
  readonly mode: "place" | "replace";
  /**
   * For `replace`: `start-first` needs room for both, `stop-first` reuses
   * the old alloc's room, `auto` (the default) is start-first where it
   * fits and stop-first where it does not.
   */
  readonly order?: "auto" | ReplaceOrder;
  /**
   * The deploy wave the step belongs to. With a wave, a start-first old
   * alloc keeps its room until the caller `release`s it at the wave's end;
   * without one (drain, node failure) it is given back at once.
   */
  readonly wave?: number;
}

/** A volume step waiting for the node the alloc lands on. */
type VolumeNeed =
  | {
    readonly type: "create";
    readonly volume: string;
    readonly sizeBytes: number | null;
  }
  | { readonly type: "attach"; readonly volume: string }
  | {
    readonly type: "move";
    readonly volume: string;
    readonly fromNodeId: string;
  };

export class PlanBuilder {
  readonly state: ClusterState;
  readonly view: ClusterView;
  readonly #steps: PlanStep[] = [];
  readonly #unplaced: Unplaced[] = [];
  readonly #idPrefix: string;
  readonly #idCounters = new Map<string, number>();
  /** Volumes this plan attaches: name → node id. */
  readonly #volumeNodes = new Map<string, string>();
  /** Allocs this plan stops or replaces. */
  readonly #stopped = new Set<string>();
  #liveByWorkload: Map<string, Alloc[]> | null = null;

  constructor(state: ClusterState, idPrefix: string) {
    this.state = state;
    this.view = new ClusterView(state);
    this.#idPrefix = idPrefix;
  }

  /** Live allocs (not terminal, not being stopped) of a workload, by id. */
  live(workload: string): readonly Alloc[] {
    if (this.#liveByWorkload === null) {
      const byWorkload = new Map<string, Alloc[]>();
      for (const alloc of this.state.allocs.values()) {
        if (isTerminal(alloc.status) || alloc.stopRequested) continue;
        const list = byWorkload.get(alloc.workload) ?? [];
        list.push(alloc);
        byWorkload.set(alloc.workload, list);
      }
      for (const list of byWorkload.values()) {
        list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      }
      this.#liveByWorkload = byWorkload;
    }
    return this.#liveByWorkload.get(workload) ?? [];
  }

  /** Replicas per node index of the given allocs. */
  spreadOf(allocs: readonly Alloc[]): Map<number, number> {
    const spread = new Map<number, number>();
    for (const alloc of allocs) {
      const index = this.view.indexOf(alloc.nodeId);
      if (index !== undefined) spread.set(index, (spread.get(index) ?? 0) + 1);
    }
    return spread;
  }

  /** Places one alloc of `workload`; null (and an unplaced entry) when it cannot. */
  place(workload: Workload, options: PlaceOptions): Placement | null {
    const ask: Ask = {
      workload: workload.name,
      cpuMillis: cpuMillisOf(workload.cpu),
      memoryBytes: workload.memoryBytes,
      needsPort: workload.kind === "service" && workload.port !== undefined,
      constraints: workload.constraints,
    };
    const volumes = this.#volumeNeeds(workload);
    if ("code" in volumes) return this.#refuse(workload.name, volumes);
    let replaces = options.replaces !== null &&
        this.#stopped.has(options.replaces.id)
      ? null
      : options.replaces;
    const rolling = options.mode === "replace" && replaces !== null &&
      volumes.pinned === null;
    const picked = rolling
      ? this.#pickRollNode(workload.name, ask, {
        spread: options.spread,
        replaces: replaces!,
        order: options.order ?? "auto",
      })
      : this.#pickNode(workload.name, ask, volumes.pinned, {
        spread: options.spread,
        replaces: options.mode === "replace" ? replaces : null,
      });
    if (picked === null) return null;
    const { index } = picked;
    if (!rolling && picked.stopFirst && replaces !== null) {
      this.stop(
        replaces,
        "replaced on its volume's node, which has no room for both",
        "first",
      );
      replaces = null;
    }
    const node = this.view.node(index);
    const moves = volumes.needs.some((need) => need.type === "move");
    if (moves) this.#stopMounts(workload.name, volumes.needs, replaces);
    for (const need of volumes.needs) this.#emitVolume(need, node.id);
    this.view.reserve(index, ask.cpuMillis, ask.memoryBytes);
    const hostPort = ask.needsPort ? this.view.takePort(index) : null;
    const ip = this.view.takeAddress(index);
    options.spread.set(index, (options.spread.get(index) ?? 0) + 1);
    const placement: Placement = {
      allocId: this.#nextId(workload.name),
      nodeId: node.id,
      nodeName: node.name,
      workload: workload.name,
      kind: workload.kind,
      image: workload.image,
      cpuMillis: ask.cpuMillis,
      memoryBytes: ask.memoryBytes,
      hostPort,
      ip,
      replacesAllocId: options.replaces?.id ?? null,
    };
    const wave = options.wave ?? 1;
    if (options.mode === "replace" && replaces !== null && !moves) {
      const order: ReplaceOrder = picked.stopFirst
        ? "stop-first"
        : "start-first";
      this.#steps.push({
        type: "replace",
        oldAllocId: replaces.id,
        placement,
        order,
        wave,
      });
      // A stop-first old alloc gave its room back before the pick.
      if (order === "start-first" && options.wave === undefined) {
        this.release(replaces);
      }
      this.#stopped.add(replaces.id);
    } else {
      this.#steps.push({ type: "place", placement, wave });
    }
    return placement;
  }

  /**
   * The node for one replacement of a roll: start-first where some node has
   * room for the new alloc beside the old one, else (when the order allows)
   * stop-first, with the old alloc's room given back (it stays given back).
   */
  #pickRollNode(
    workload: string,
    ask: Ask,
    options: {
      spread: ReadonlyMap<number, number>;
      replaces: Alloc;
      order: "auto" | ReplaceOrder;
    },
  ): { index: number; stopFirst: boolean } | null {
    if (options.order !== "stop-first") {
      const index = chooseNode(this.view, ask, options.spread);
      if (index >= 0) return { index, stopFirst: false };
      if (options.order === "start-first") {
        const refusal = explainRefusal(this.view, ask);
        this.#refuse(workload, {
          code: refusal.code,
          message:
            `${refusal.message}; a start-first roll needs room for one more replica (update { order = "stop-first" } reuses the old one's)`,
        });
        return null;
      }
    }
    this.release(options.replaces);
    const index = chooseNode(this.view, ask, options.spread);
    if (index >= 0) return { index, stopFirst: true };
    this.#refuse(workload, explainRefusal(this.view, ask));
    this.reserveAgain(options.replaces);
    return null;
  }

  /**
   * The node for the ask: the volume's node when pinned (where a replaced
   * alloc may have to stop first to make room), else the best that fits.
   */
  #pickNode(
    workload: string,
    ask: Ask,
    pinned: number | null,
    options: { spread: ReadonlyMap<number, number>; replaces: Alloc | null },
  ): { index: number; stopFirst: boolean } | null {
    if (pinned === null) {
      const index = chooseNode(this.view, ask, options.spread);
      if (index >= 0) return { index, stopFirst: false };
      this.#refuse(workload, explainRefusal(this.view, ask));
      return null;
    }
    if (fits(this.view, pinned, ask)) {
      return { index: pinned, stopFirst: false };
    }
    const old = options.replaces;
    if (old !== null && this.view.indexOf(old.nodeId) === pinned) {
      this.view.release(pinned, old.cpuMillis, old.memoryBytes);
      const roomy = fits(this.view, pinned, ask);
      this.view.reserve(pinned, old.cpuMillis, old.memoryBytes);
      if (roomy) return { index: pinned, stopFirst: true };
    }
    const refusal = explainRefusal(this.view, ask, [pinned]);
    this.#refuse(workload, {
      code: refusal.code,
      message: `${refusal.message} (pinned to ${
        this.view.node(pinned).name
      } by its volume)`,
    });
    return null;
  }

  /**
   * A stop step. `first`: before any placement, its reservation given back
   * for them. `last`: once everything new is healthy; its room is not
   * counted on (the caller may `release` it to plan with it stopped first).
   */
  stop(alloc: Alloc, reason: string, when: "first" | "last" = "first"): void {
    if (this.#stopped.has(alloc.id)) return;
    this.#stopped.add(alloc.id);
    this.#steps.push({ type: "stop", allocId: alloc.id, reason, when });
    if (when === "first") this.release(alloc);
  }

  /**
   * A volume cannot be in two places: before it moves, every live alloc on
   * its old node that mounts it stops (the one being replaced first).
   */
  #stopMounts(
    workload: string,
    needs: readonly VolumeNeed[],
    replaces: Alloc | null,
  ): void {
    const reason = "its volume moves to another node";
    if (replaces !== null && !isTerminal(replaces.status)) {
      this.stop(replaces, reason);
    }
    for (const need of needs) {
      if (need.type !== "move") continue;
      const mounting = [...this.state.allocs.values()].filter((alloc) =>
        alloc.nodeId === need.fromNodeId && !isTerminal(alloc.status) &&
        !alloc.stopRequested && !this.#stopped.has(alloc.id) &&
        (alloc.workload === workload || this.#mounts(alloc, need.volume))
      );
      // By id, so the plan does not depend on the map's internal order.
      mounting.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const alloc of mounting) this.stop(alloc, reason);
    }
  }

  /** Whether a live alloc on `nodeId` that this plan does not stop mounts the volume. */
  mountedOn(nodeId: string, volume: string): boolean {
    for (const alloc of this.state.allocs.values()) {
      if (alloc.nodeId !== nodeId || isTerminal(alloc.status)) continue;
      if (this.#stopped.has(alloc.id)) continue;
      if (this.#mounts(alloc, volume)) return true;
    }
    return false;
  }

  #mounts(alloc: Alloc, volume: string): boolean {
    const workloads = alloc.kind === "service"
      ? this.state.config.services
      : this.state.config.tasks;
    const config = Object.hasOwn(workloads, alloc.workload)
      ? workloads[alloc.workload]
      : undefined;
    return config?.volumes.some((mount) => mount.name === volume) ?? false;
  }

  /** Frees an alloc's cpu and memory in the working view (its port stays held). */
  release(alloc: Alloc): void {
    const index = this.view.indexOf(alloc.nodeId);
    if (index !== undefined) {
      this.view.release(index, alloc.cpuMillis, alloc.memoryBytes);
    }
  }

  /** A wave is planned: its start-first old allocs give their room back. */
  endWave(wave: number): void {
    for (const step of this.#steps) {
      if (
        step.type !== "replace" || step.wave !== wave ||
        step.order !== "start-first"
      ) continue;
      const old = this.state.allocs.get(step.oldAllocId);
      if (old !== undefined) this.release(old);
    }
  }

  /** Undoes `release` (a pick that needed the room failed anyway). */
  reserveAgain(alloc: Alloc): void {
    const index = this.view.indexOf(alloc.nodeId);
    if (index !== undefined) {
      this.view.reserve(index, alloc.cpuMillis, alloc.memoryBytes);
    }
  }

  /** Whether the plan so far could not place something. */
  get hasUnplaced(): boolean {
    return this.#unplaced.length > 0;
  }

  step(step: PlanStep): void {
    this.#steps.push(step);
  }

  refuse(workload: string, code: UnplacedCode, message: string): void {
    this.#refuse(workload, { code, message });
  }

  build(): Plan {
    return { steps: this.#steps, unplaced: this.#unplaced };
  }

  #refuse(
    workload: string,
    refusal: { code: UnplacedCode; message: string },
  ): null {
    const last = this.#unplaced.at(-1);
    if (
      last !== undefined && last.workload === workload &&
      last.code === refusal.code && last.message === refusal.message
    ) {
      this.#unplaced[this.#unplaced.length - 1] = {
        ...last,
        count: last.count + 1,
      };
    } else {
      this.#unplaced.push({ workload, count: 1, ...refusal });
    }
    return null;
  }

  /** Where the workload's persistent volumes pin it, and what must happen to them. */
  #volumeNeeds(
    workload: Workload,
  ): { pinned: number | null; needs: VolumeNeed[] } | {
    code: UnplacedCode;
    message: string;
  } {
    let pinned: number | null = null;
    let pinnedBy = "";
    const needs: VolumeNeed[] = [];
    for (const mount of workload.volumes) {
      if (mount.ephemeral) continue;
      const planned = this.#volumeNodes.get(mount.name);
      const volume = this.state.volumes.get(mount.name);
      const nodeId = planned ?? volume?.nodeId ?? null;
      let index: number | undefined;
      if (volume === undefined && planned === undefined) {
        needs.push({
          type: "create",
          volume: mount.name,
          sizeBytes: mount.sizeBytes ?? null,
        });
      } else if (nodeId === null) {
        needs.push({ type: "attach", volume: mount.name });
      } else if (
        (index = this.view.indexOf(nodeId)) !== undefined &&
        this.view.schedulable[index]
      ) {
        if (pinned !== null && pinned !== index) {
          return {
            code: "volume_conflict",
            message: `${workload.name}: volume ${pinnedBy} is on ${
              this.view.node(pinned).name
            } but volume ${mount.name} is on ${
              this.view.node(index).name
            }; one alloc cannot use both`,
          };
        }
        pinned = index;
        pinnedBy = mount.name;
      } else {
        needs.push({ type: "move", volume: mount.name, fromNodeId: nodeId });
      }
    }
    return { pinned, needs };
  }

  #emitVolume(need: VolumeNeed, nodeId: string): void {
    this.#volumeNodes.set(need.volume, nodeId);
    if (need.type === "create") {
      this.#steps.push({
        type: "createVolume",
        volume: need.volume,
        sizeBytes: need.sizeBytes,
        nodeId,
      });
    } else if (need.type === "attach") {
      this.#steps.push({ type: "attachVolume", volume: need.volume, nodeId });
    } else {
      this.#steps.push({
        type: "moveVolume",
        volume: need.volume,
        fromNodeId: need.fromNodeId,
        toNodeId: nodeId,
      });
    }
  }

  #nextId(workload: string): string {
    for (let attempt = 0; attempt < 1_000_000; attempt++) {
      const next = (this.#idCounters.get(workload) ?? 0) + 1;
      this.#idCounters.set(workload, next);
      const id = `${workload}-${this.#idPrefix}-${next}`;
      if (!this.state.allocs.has(id)) return id;
    }
    throw new Error(
      `no free alloc id for ${workload} with prefix ${this.#idPrefix}`,
    );
  }
}
