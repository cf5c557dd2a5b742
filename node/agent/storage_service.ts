/**
 * The cluster's storage driver on a primary, for the leader's volume steps
 * (node/deploy/volume_steps.ts). Today the `local` provider: a sparse file
 * per volume on a loop device of this machine (storage/local), for
 * one-node clusters and `mill up`; its volumes can only be attached to the
 * node that holds them, which the steps say plainly when a plan asks for
 * another.
 */
import { LocalVolumeDriver } from "../../storage/local/local_driver.ts";
import type { ClusterState, Command } from "../../raft/mod.ts";
import { VolumeSteps } from "../deploy/volume_steps.ts";
import type { CommitResult } from "../deploy/mod.ts";
import type { Service } from "./supervisor.ts";

export interface StorageServiceOptions {
  /** Where the local provider keeps its volume files. */
  readonly dir: string;
  clusterId(): string;
  selfId(): string;
  state(): ClusterState;
  commit(command: Command): Promise<CommitResult>;
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class StorageService implements Service {
  readonly name = "storage";
  readonly #options: StorageServiceOptions;
  #steps: VolumeSteps | null = null;

  constructor(options: StorageServiceOptions) {
    this.#options = options;
  }

  /** The volume steps once the driver is open; null before. */
  get steps(): VolumeSteps | null {
    return this.#steps;
  }

  async start(): Promise<void> {
    const options = this.#options;
    const driver = await LocalVolumeDriver.open({ dir: options.dir });
    this.#steps = new VolumeSteps({
      driver,
      clusterId: options.clusterId(),
      volume: (name) => options.state().volumes.get(name),
      commit: options.commit,
      machineIdOf: (nodeId) => {
        if (nodeId !== options.selfId()) {
          const name = options.state().nodes.get(nodeId)?.name ?? nodeId;
          throw new Error(
            `the local storage provider keeps volumes on this machine, and ${name} is another; pin the service here (constraint node.name) or use a cloud provider`,
          );
        }
        return nodeId;
      },
      nodeName: (nodeId) => options.state().nodes.get(nodeId)?.name ?? nodeId,
      nowMs: options.nowMs,
      log: options.log,
    });
  }

  stop(): Promise<void> {
    this.#steps = null;
    return Promise.resolve();
  }
}
