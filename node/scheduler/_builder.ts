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
   * `replace`: place, wait healthy, stop `replaces` (zero downtime).
   * `place`: just place (`replaces` is already gone or stopped earlier).
   */
  readonly mode: "place" | "replace";
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
    const picked = this.#pickNode(workload.name, ask, volumes.pinned, {
      spread: options.spread,
      replaces: options.mode === "replace" ? replaces : null,
    });
    if (picked === null) return null;
    const { index } = picked;
    if (picked.stopFirst && replaces !== null) {
      this.stop(
        replaces,
        "replaced on its volume's node, which has no room for both",
      );
      replaces = null;
    }
    const node = this.view.node(index);
    const moves = volumes.needs.some((need) => need.type === "move");
    if (moves) this.#stopMounts(workload.name, volumes.needs, replaces);
    for (const need of volumes.needs) this.#emitVolume(need, node.id);
    this.view.reserve(index, ask.cpuMillis, ask.memoryBytes);
    const hostPort = ask.needsPort ? this.view.takePort(index) : null;
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
      replacesAllocId: options.replaces?.id ?? null,
    };
    if (options.mode === "replace" && replaces !== null && !moves) {
      this.#steps.push({ type: "replace", oldAllocId: replaces.id, placement });
      this.release(replaces);
      this.#stopped.add(replaces.id);
    } else {
      this.#steps.push({ type: "place", placement });
    }
    return placement;
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

  /** A stop step; its reservation is given back for later placements. */
  stop(alloc: Alloc, reason: string): void {
    if (this.#stopped.has(alloc.id)) return;
    this.#stopped.add(alloc.id);
    this.#steps.push({ type: "stop", allocId: alloc.id, reason });
    this.release(alloc);
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
