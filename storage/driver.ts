/**
 * The one interface every volume provider implements (`storage/<provider>/`):
 * cloud block volumes that mill creates, attaches to a node, detaches,
 * snapshots and destroys. A driver talks to its provider only; what a
 * volume holds and where it is mounted is the node's side (`device.ts`).
 *
 * Every call takes an AbortSignal and resolves only once the provider says
 * the change is complete (an attach action polled to `completed`, say).
 * Failures are `StorageError`s whose code a caller can act on and whose
 * message a user can.
 */

/** What to create. */
export interface VolumeSpec {
  /** Deterministic (derived from the config's volume name), unique per cluster. */
  readonly name: string;
  readonly sizeBytes: number;
  /** The provider's region; the driver's own when absent. */
  readonly region?: string;
  /** Labels the provider keeps with the volume (mill marks its own). */
  readonly tags: readonly string[];
  /** Create from this snapshot instead of blank. */
  readonly fromSnapshot?: string;
}

/** A volume as the provider reports it. */
export interface CloudVolume {
  /** The provider's id (e.g. a DigitalOcean volume UUID, or `local-…`). */
  readonly id: string;
  readonly name: string;
  readonly sizeBytes: number;
  readonly region: string | null;
  /** The provider's id of the machine it is attached to; null: detached. */
  readonly attachedTo: string | null;
  readonly tags: readonly string[];
  readonly createdAtMs: number;
}

export interface VolumeSnapshot {
  readonly id: string;
  readonly name: string;
  readonly volumeId: string;
  readonly sizeBytes: number;
  readonly createdAtMs: number;
}

export interface VolumeDriver {
  /** `do`, `local`, … */
  readonly provider: string;
  create(spec: VolumeSpec, signal?: AbortSignal): Promise<CloudVolume>;
  /** Refused (`storage.attached`) while attached; gone already is fine. */
  destroy(volumeId: string, signal?: AbortSignal): Promise<void>;
  /** Attaches to `machineId` (the provider's id of a node); idempotent. */
  attach(
    volumeId: string,
    machineId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume>;
  /** Detaches from `machineId`; detached already is fine. */
  detach(
    volumeId: string,
    machineId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume>;
  /** Every volume mill owns (by its tag), all pages. */
  list(signal?: AbortSignal): Promise<CloudVolume[]>;
  get(volumeId: string, signal?: AbortSignal): Promise<CloudVolume | null>;
  snapshot(
    volumeId: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<VolumeSnapshot>;
  /** Where the attached volume's block device appears on its machine. */
  devicePath(volume: CloudVolume): string;
}

export type StorageErrorCode =
  /** No such volume or snapshot. */
  | "storage.not_found"
  /** Attached to another machine (detach it first). */
  | "storage.attached_elsewhere"
  /** Still attached: a destroy must wait for the detach. */
  | "storage.attached"
  /** In use on its machine (mounted, held open): release it there first. */
  | "storage.busy"
  /** A provider limit: volumes per machine, total size, … */
  | "storage.limit"
  /** The volume and the machine are in different regions. */
  | "storage.region_mismatch"
  /** The provider's rate limit; `retryAfterMs` says when to try again. */
  | "storage.rate_limited"
  /** The credentials are missing, wrong or lack the scope. */
  | "storage.unauthorized"
  /** The provider cannot be reached or failed (5xx, timeout). */
  | "storage.unavailable"
  /** The request was refused as malformed (a bad name or size). */
  | "storage.invalid";

export class StorageError extends Error {
  override name = "StorageError";
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly retryAfterMs: number | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
