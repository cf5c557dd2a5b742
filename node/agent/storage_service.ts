/**
 * The cluster's storage driver on a primary, for the leader's volume steps
 * (node/deploy/volume_steps.ts):
 *
 * - `local` (the default): a sparse file per volume on a loop device of
 *   this machine (storage/local), for one-node clusters and `mill up`; its
 *   volumes can only be attached to this node, which the steps say plainly
 *   when a plan asks for another;
 * - `do`: DigitalOcean's volumes API (storage/do), its token the secret
 *   `digitalocean-token` (decrypted here, on the leader, when a step runs;
 *   never logged), each node known by the droplet id it registered
 *   (`--machine-id`, the label `mill.machine`).
 */
import { LocalVolumeDriver } from "../../storage/local/local_driver.ts";
import {
  DigitalOceanDriver,
  DO_TOKEN_SECRET,
} from "../../storage/do/do_driver.ts";
import type { VolumeDriver } from "../../storage/driver.ts";
import type { ClusterState, Command } from "../../raft/mod.ts";
import { VolumeSteps } from "../deploy/volume_steps.ts";
import type { CommitResult } from "../deploy/mod.ts";
import { type ClusterKey, decryptSecret } from "../secrets/mod.ts";
import { MACHINE_LABEL, type StorageSlice } from "./options.ts";
import type { Service } from "./supervisor.ts";

export interface StorageServiceOptions {
  readonly provider: StorageSlice;
  /** Where the local provider keeps its volume files. */
  readonly dir: string;
  clusterKey(): ClusterKey;
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
  /** The decrypted API token, refreshed when the secret changes. */
  #token = { updatedAtMs: -1, value: "" };

  constructor(options: StorageServiceOptions) {
    this.#options = options;
  }

  /** The volume steps once the driver is open; null before. */
  get steps(): VolumeSteps | null {
    return this.#steps;
  }

  async start(): Promise<void> {
    const options = this.#options;
    const driver = await this.#driver();
    this.#steps = new VolumeSteps({
      driver,
      clusterId: options.clusterId(),
      volume: (name) => options.state().volumes.get(name),
      commit: options.commit,
      machineIdOf: (nodeId) => this.#machineIdOf(nodeId),
      nodeName: (nodeId) => options.state().nodes.get(nodeId)?.name ?? nodeId,
      beforeCloud: () => this.#refreshToken(),
      nowMs: options.nowMs,
      log: options.log,
    });
  }

  stop(): Promise<void> {
    this.#steps = null;
    return Promise.resolve();
  }

  #driver(): Promise<VolumeDriver> {
    const { provider, dir, clusterId } = this.#options;
    if (provider.provider === "local") return LocalVolumeDriver.open({ dir });
    return Promise.resolve(
      new DigitalOceanDriver({
        ...(provider.apiBase === undefined
          ? {}
          : { apiBase: provider.apiBase }),
        region: provider.region,
        clusterTag: `mill-cluster-${clusterId().slice(0, 8)}`,
        token: () => this.#token.value,
        ...(provider.byIdDir === undefined
          ? {}
          : { byIdDir: provider.byIdDir }),
        log: (level, message) => {
          if (level !== "debug") {
            this.#options.log(level, `storage: ${message}`);
          }
        },
      }),
    );
  }

  #machineIdOf(nodeId: string): string {
    const { provider, state, selfId } = this.#options;
    const node = state().nodes.get(nodeId);
    const name = node?.name ?? nodeId;
    if (provider.provider === "local") {
      if (nodeId !== selfId()) {
        throw new Error(
          `the local storage provider keeps volumes on this machine, and ${name} is another; pin the service here (constraint node.name) or use a cloud provider`,
        );
      }
      return nodeId;
    }
    const machine = node?.labels[MACHINE_LABEL];
    if (machine === undefined) {
      throw new Error(
        `${name} registered no droplet id; start its agent with --machine-id`,
      );
    }
    return machine;
  }

  /** Decrypts the token again when its secret changed (a no-op for local). */
  async #refreshToken(): Promise<void> {
    if (this.#options.provider.provider !== "do") return;
    const secret = this.#options.state().secrets.get(DO_TOKEN_SECRET);
    if (secret === undefined) {
      this.#token = { updatedAtMs: -1, value: "" };
      return;
    }
    if (secret.updatedAtMs === this.#token.updatedAtMs) return;
    this.#token = {
      updatedAtMs: secret.updatedAtMs,
      value: await decryptSecret(this.#options.clusterKey(), DO_TOKEN_SECRET, {
        ciphertext: secret.ciphertext,
        nonce: secret.nonce,
      }),
    };
  }
}
