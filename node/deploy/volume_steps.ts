/**
 * The volume steps of a plan (create, attach, move, detach), run by the
 * leader through the cluster's storage driver (storage/) before the
 * placements that need them, each cloud change committed as it completes:
 * `VolumeCreated` → `VolumeAttached` (seed 000), `VolumeDetached` →
 * `VolumeReady` → `VolumeAttached` for a move.
 *
 * Seed 004's rules: a volume's cloud name is deterministic
 * (`mill-CLUSTER-VOLUME`) and tagged with the cluster, so a leader that
 * died between the cloud's create and the `VolumeCreated` entry finds the
 * volume on the next try instead of making a second one; nothing here ever
 * destroys a volume but `discardCreated`, for volumes a failed first deploy
 * made (they hold no data yet).
 */
import type { Command, FsmVolume } from "../../raft/fsm/mod.ts";
import type { PlanStep } from "../scheduler/mod.ts";
import type { CloudVolume, VolumeDriver } from "../../storage/driver.ts";
import type { CommitResult } from "./commit_result.ts";

export type VolumeStep = Extract<
  PlanStep,
  { type: "createVolume" | "attachVolume" | "moveVolume" | "detachVolume" }
>;

export interface VolumeStepsOptions {
  readonly driver: VolumeDriver;
  /** The cluster's id: names and tags its volumes. */
  readonly clusterId: string;
  volume(name: string): FsmVolume | undefined;
  commit(command: Command): Promise<CommitResult>;
  /** The provider's id of a node (a droplet id; the node id for `local`). */
  machineIdOf(nodeId: string): string;
  /** A node's name, for messages. */
  nodeName(nodeId: string): string;
  /** Runs before each step that calls the provider (a token refresh). */
  beforeCloud?(): Promise<void>;
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** What one step did, for the deploy's events. */
export interface VolumeStepReport {
  readonly volume: string;
  readonly action: "created" | "attached" | "moved" | "detached";
  readonly message: string;
}

export class VolumeSteps {
  readonly #options: VolumeStepsOptions;

  constructor(options: VolumeStepsOptions) {
    this.#options = options;
  }

  /** The cloud name of a config volume: `mill-<cluster>-<volume>`. */
  cloudName(volume: string): string {
    return `mill-${this.#options.clusterId.slice(0, 8)}-${volume}`
      .toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 64);
  }

  get tags(): string[] {
    return [`mill-cluster-${this.#options.clusterId.slice(0, 8)}`];
  }

  /** Where the volume's block device appears on the node it is attached to. */
  devicePath(volume: FsmVolume): string {
    return this.#options.driver.devicePath(this.#cloudVolumeOf(volume));
  }

  async run(step: VolumeStep, signal?: AbortSignal): Promise<VolumeStepReport> {
    await this.#options.beforeCloud?.();
    switch (step.type) {
      case "createVolume":
        return await this.#create(step, signal);
      case "attachVolume":
        await this.#attach(step.volume, step.nodeId, signal);
        return {
          volume: step.volume,
          action: "attached",
          message: `attached to ${this.#options.nodeName(step.nodeId)}`,
        };
      case "moveVolume":
        await this.#detach(step.volume, step.fromNodeId, true, signal);
        await this.#attach(step.volume, step.toNodeId, signal);
        return {
          volume: step.volume,
          action: "moved",
          message: `moved from ${this.#options.nodeName(step.fromNodeId)} to ${
            this.#options.nodeName(step.toNodeId)
          }`,
        };
      case "detachVolume":
        await this.#detach(
          step.volume,
          step.fromNodeId,
          step.markReady,
          signal,
        );
        return {
          volume: step.volume,
          action: "detached",
          message: `detached from ${this.#options.nodeName(step.fromNodeId)}`,
        };
    }
  }

  /**
   * `mill volume delete`: a snapshot first when asked, the detach
   * (`VolumeDetached`), the cloud delete, then `VolumeDestroyed`. The caller
   * checked that no service mounts it. A crash after the cloud delete is
   * completed by asking again (a delete of a gone volume succeeds).
   */
  async destroy(
    name: string,
    options: { readonly snapshot: boolean },
    signal?: AbortSignal,
  ): Promise<{ readonly snapshotId: string | null }> {
    await this.#options.beforeCloud?.();
    const volume = this.#known(name);
    if (volume.state === "ready") {
      throw new Error(
        `volume ${name} is moving to another node; delete it once it is attached`,
      );
    }
    const snapshotId = options.snapshot
      ? (await this.#options.driver.snapshot(
        volume.cloudId,
        `${this.cloudName(name)}-${this.#options.nowMs()}`,
        signal,
      )).id
      : null;
    if (volume.nodeId !== null) {
      await this.#detach(name, volume.nodeId, false, signal);
    }
    await this.#options.driver.destroy(volume.cloudId, signal);
    await this.#committed({
      type: "VolumeDestroyed",
      name,
      atMs: this.#options.nowMs(),
    });
    return { snapshotId };
  }

  /**
   * Cloud volumes tagged with this cluster that the state does not know:
   * reported, never deleted by mill itself.
   */
  async orphans(
    known: ReadonlySet<string>,
    signal?: AbortSignal,
  ): Promise<CloudVolume[]> {
    await this.#options.beforeCloud?.();
    const tag = this.tags[0]!;
    return (await this.#options.driver.list(signal)).filter((v) =>
      v.tags.includes(tag) && !known.has(v.id)
    );
  }

  /**
   * Destroys volumes a failed first deploy created (they hold nothing yet):
   * detach, `VolumeDetached`, the cloud delete, `VolumeDestroyed`.
   */
  async discardCreated(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const volume = this.#options.volume(name);
      if (volume === undefined) continue;
      try {
        if (volume.nodeId !== null) {
          await this.#detach(name, volume.nodeId, false);
        }
        await this.#options.driver.destroy(volume.cloudId);
        await this.#committed({
          type: "VolumeDestroyed",
          name,
          atMs: this.#options.nowMs(),
        });
        this.#options.log(
          "info",
          `volume ${name}: destroyed (its first deploy failed)`,
        );
      } catch (error) {
        this.#options.log("warn", `volume ${name}: not destroyed: ${error}`);
      }
    }
  }

  async #create(
    step: Extract<VolumeStep, { type: "createVolume" }>,
    signal?: AbortSignal,
  ): Promise<VolumeStepReport> {
    const { driver } = this.#options;
    const name = this.cloudName(step.volume);
    // A leader that died after the cloud's create left it there: reuse it.
    const existing = (await driver.list(signal)).find((v) => v.name === name);
    const sizeBytes = step.sizeBytes ?? 1024 ** 3;
    const cloud = existing ?? await driver.create({
      name,
      sizeBytes,
      tags: this.tags,
    }, signal);
    await this.#committed({
      type: "VolumeCreated",
      name: step.volume,
      cloudId: cloud.id,
      sizeBytes: cloud.sizeBytes,
      nodeId: step.nodeId,
      atMs: this.#options.nowMs(),
    });
    await this.#attach(step.volume, step.nodeId, signal);
    return {
      volume: step.volume,
      action: "created",
      message: `${existing === undefined ? "created" : "found"} ${cloud.id} (${
        formatSize(cloud.sizeBytes)
      }), attached to ${this.#options.nodeName(step.nodeId)}`,
    };
  }

  async #attach(
    name: string,
    nodeId: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const volume = this.#known(name);
    await this.#options.driver.attach(
      volume.cloudId,
      this.#options.machineIdOf(nodeId),
      signal,
    );
    await this.#committed({
      type: "VolumeAttached",
      name,
      nodeId,
      atMs: this.#options.nowMs(),
    });
    this.#options.log(
      "info",
      `volume ${name}: attached to ${this.#options.nodeName(nodeId)}`,
    );
  }

  async #detach(
    name: string,
    fromNodeId: string,
    markReady: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    // Its node flushed and unmounted it when the last alloc using it ended
    // (node/secondary); a dead node could not, and the detach goes ahead.
    const volume = this.#known(name);
    await this.#options.driver.detach(
      volume.cloudId,
      this.#options.machineIdOf(fromNodeId),
      signal,
    );
    await this.#committed({
      type: "VolumeDetached",
      name,
      atMs: this.#options.nowMs(),
    });
    this.#options.log(
      "info",
      `volume ${name}: detached from ${this.#options.nodeName(fromNodeId)}`,
    );
    if (markReady) {
      await this.#committed({
        type: "VolumeReady",
        name,
        atMs: this.#options.nowMs(),
      });
    }
  }

  #known(name: string): FsmVolume {
    const volume = this.#options.volume(name);
    if (volume === undefined) throw new Error(`volume ${name} is not known`);
    return volume;
  }

  #cloudVolumeOf(volume: FsmVolume): CloudVolume {
    return {
      id: volume.cloudId,
      name: this.cloudName(volume.name),
      sizeBytes: volume.sizeBytes ?? 0,
      region: null,
      attachedTo: volume.nodeId === null
        ? null
        : this.#options.machineIdOf(volume.nodeId),
      tags: this.tags,
      createdAtMs: volume.createdAtMs,
    };
  }

  async #committed(command: Command): Promise<void> {
    const result = await this.#options.commit(command);
    if (!result.ok) {
      throw new Error(`${command.type}: ${result.rejection.message}`);
    }
  }
}

/** A size as a config would write it: `50Gi`, `64M`, or bytes. */
function formatSize(bytes: number): string {
  for (
    const [unit, size] of [
      ["Ti", 1024 ** 4],
      ["T", 1e12],
      ["Gi", 1024 ** 3],
      ["G", 1e9],
      ["Mi", 1024 ** 2],
      ["M", 1e6],
    ] as const
  ) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes} bytes`;
}
