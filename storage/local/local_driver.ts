/**
 * The `local` provider: each volume a sparse file on this machine, made a
 * real block device by a loop device while attached. For one-node
 * clusters, `mill up` and the test bed; the machine id is the local node's.
 *
 * Layout of the driver's directory:
 *   <dir>/local-NAME.img             the volume's bytes (sparse)
 *   <dir>/local-NAME.json            its record (records.ts)
 *   <dir>/snapshots/local-snap-NAME.{img,json}
 *
 * Ids are derived from names (`local-NAME`), so a name is taken once: a
 * create of a name that exists is refused (`storage.invalid`), and a
 * restarted leader finds its volume with `list()` or `get()`.
 *
 * Crash safety: the record is the commit point. A create writes the image
 * first, then the record; a destroy removes the record first, then the
 * image (a leftover image without a record never held data anyone can
 * reach and is replaced by the next create of its name, or removed by a
 * destroy of its id). An attach records the machine before it makes the
 * loop device, a detach removes the loop device before it clears the
 * machine: a crash in between leaves the volume attached, and the same
 * call again completes it.
 */

import {
  type CloudVolume,
  StorageError,
  type VolumeDriver,
  type VolumeSnapshot,
  type VolumeSpec,
} from "../driver.ts";
import {
  blockDeviceNumber,
  type CommandRunner,
  localRunner,
  runChecked,
  StorageCommandError,
} from "../command.ts";
import { parseMountInfo } from "../mountinfo.ts";
import { isVolumeName, VOLUME_NAME_RULE } from "../names.ts";
import {
  backingFileSync,
  loopDevicesOf,
  removeLoop,
  setUpLoop,
} from "./loop.ts";
import {
  parseSnapshotRecord,
  parseVolumeRecord,
  readRecord,
  type SnapshotRecord,
  syncDirectoryOf,
  type VolumeRecord,
  writeRecord,
} from "./records.ts";

export interface LocalVolumeDriverOptions {
  /** Absolute; made when missing (e.g. `<data dir>/volumes/local`). */
  readonly dir: string;
  readonly run?: CommandRunner;
  readonly now?: () => number;
}

const VOLUME_ID_PREFIX = "local-";
const SNAPSHOT_ID_PREFIX = "local-snap-";
const MIN_SIZE_BYTES = 1 << 20;
const SECTOR_BYTES = 512;

export class LocalVolumeDriver implements VolumeDriver {
  readonly provider = "local";
  readonly #dir: string;
  readonly #snapshots: string;
  readonly #run: CommandRunner;
  readonly #now: () => number;
  readonly #locks = new KeyedLock();

  private constructor(dir: string, options: LocalVolumeDriverOptions) {
    this.#dir = dir;
    this.#snapshots = `${dir}/snapshots`;
    this.#run = options.run ?? localRunner();
    this.#now = options.now ?? Date.now;
  }

  static async open(
    options: LocalVolumeDriverOptions,
  ): Promise<LocalVolumeDriver> {
    if (!options.dir.startsWith("/")) {
      throw new Error(
        `the local driver's dir "${options.dir}" is not absolute`,
      );
    }
    // Volume images hold users' data: root's alone, like the data dir.
    await Deno.mkdir(`${options.dir}/snapshots`, { recursive: true });
    await Deno.chmod(options.dir, 0o700);
    await Deno.chmod(`${options.dir}/snapshots`, 0o700);
    // As the kernel names it: losetup and sysfs show the resolved path.
    return new LocalVolumeDriver(await Deno.realPath(options.dir), options);
  }

  async create(spec: VolumeSpec, signal?: AbortSignal): Promise<CloudVolume> {
    checkSpec(spec);
    const id = VOLUME_ID_PREFIX + spec.name;
    return await this.#locks.run(`volume:${id}`, async () => {
      if (await this.#readVolume(id) !== null) {
        throw new StorageError(
          "storage.invalid",
          `a volume named "${spec.name}" exists already (${id}): find it with list() or get()`,
        );
      }
      const image = this.#image(id);
      // A leftover image without a record never held reachable data.
      await this.#removeLoops(image, spec.name, signal);
      const partial = `${image}.partial`;
      await removeIfPresent(partial);
      if (spec.fromSnapshot !== undefined) {
        await this.#copySnapshot(spec, partial, signal);
      }
      {
        using file = await Deno.open(partial, { write: true, create: true });
        // Growing by truncate allocates nothing: the file is sparse.
        await file.truncate(spec.sizeBytes);
        await file.sync();
      }
      await Deno.rename(partial, image);
      await syncDirectoryOf(image);
      const record: VolumeRecord = {
        id,
        name: spec.name,
        sizeBytes: spec.sizeBytes,
        region: spec.region ?? null,
        tags: [...spec.tags],
        attachedTo: null,
        loopDevice: null,
        createdAtMs: this.#now(),
      };
      await writeRecord(this.#record(id), record);
      return toCloudVolume(record);
    });
  }

  async destroy(volumeId: string, signal?: AbortSignal): Promise<void> {
    const id = checkVolumeId(volumeId);
    if (id === null) return;
    return await this.#locks.run(`volume:${id}`, async () => {
      const record = await this.#readVolume(id);
      if (record?.attachedTo) {
        throw new StorageError(
          "storage.attached",
          `volume ${record.name} is attached to ${record.attachedTo}: detach it first`,
        );
      }
      const image = this.#image(id);
      // No device left behind, even one a crashed detach left.
      await this.#removeLoops(image, record?.name ?? id, signal);
      if (record !== null) {
        await Deno.remove(this.#record(id));
        await syncDirectoryOf(image);
      }
      await removeIfPresent(`${image}.partial`);
      await removeIfPresent(image);
    });
  }

  async attach(
    volumeId: string,
    machineId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume> {
    checkMachineId(machineId);
    return await this.#locks.run(`volume:${volumeId}`, async () => {
      let record = await this.#requireVolume(volumeId);
      if (record.attachedTo !== null && record.attachedTo !== machineId) {
        throw new StorageError(
          "storage.attached_elsewhere",
          `volume ${record.name} is attached to ${record.attachedTo}: detach it there first`,
        );
      }
      if (record.attachedTo === null) {
        record = await this.#update(record, { attachedTo: machineId });
      }
      const image = this.#image(record.id);
      // Found again by its file, so an attach repeated after a crash or a
      // vanished device never makes a second one.
      const device = (await this.#loops(image, signal))[0] ??
        await this.#command(() => setUpLoop(this.#run, image, signal));
      if (record.loopDevice !== device) {
        record = await this.#update(record, { loopDevice: device });
      }
      return toCloudVolume(record);
    });
  }

  async detach(
    volumeId: string,
    machineId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume> {
    checkMachineId(machineId);
    return await this.#locks.run(`volume:${volumeId}`, async () => {
      let record = await this.#requireVolume(volumeId);
      if (record.attachedTo !== null && record.attachedTo !== machineId) {
        throw new StorageError(
          "storage.attached_elsewhere",
          `volume ${record.name} is attached to ${record.attachedTo}, not ${machineId}`,
        );
      }
      await this.#removeLoops(this.#image(record.id), record.name, signal);
      if (record.attachedTo !== null || record.loopDevice !== null) {
        record = await this.#update(record, {
          attachedTo: null,
          loopDevice: null,
        });
      }
      return toCloudVolume(record);
    });
  }

  async list(_signal?: AbortSignal): Promise<CloudVolume[]> {
    const volumes: CloudVolume[] = [];
    for (const id of await this.#idsIn(this.#dir, VOLUME_ID_PREFIX)) {
      const record = await this.#readVolume(id);
      if (record !== null) volumes.push(toCloudVolume(record));
    }
    return volumes;
  }

  async get(
    volumeId: string,
    _signal?: AbortSignal,
  ): Promise<CloudVolume | null> {
    const id = checkVolumeId(volumeId);
    const record = id === null ? null : await this.#readVolume(id);
    return record === null ? null : toCloudVolume(record);
  }

  async snapshot(
    volumeId: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<VolumeSnapshot> {
    checkName(name, "snapshot");
    const snapshotId = SNAPSHOT_ID_PREFIX + name;
    // Volume before snapshot, always, as in create.
    return await this.#locks.run(`volume:${volumeId}`, async () => {
      const volume = await this.#requireVolume(volumeId);
      return await this.#locks.run(`snapshot:${snapshotId}`, async () => {
        if (await this.#readSnapshot(snapshotId) !== null) {
          throw new StorageError(
            "storage.invalid",
            `a snapshot named "${name}" exists already (${snapshotId})`,
          );
        }
        const image = this.#snapshotImage(snapshotId);
        const partial = `${image}.partial`;
        await this.#copyImage(this.#image(volume.id), partial, signal);
        await syncFile(partial);
        await Deno.rename(partial, image);
        await syncDirectoryOf(image);
        const record: SnapshotRecord = {
          id: snapshotId,
          name,
          volumeId: volume.id,
          sizeBytes: volume.sizeBytes,
          createdAtMs: this.#now(),
        };
        await writeRecord(this.#snapshotRecord(snapshotId), record);
        return { ...record };
      });
    });
  }

  /** Every snapshot this driver keeps (not part of the interface). */
  async listSnapshots(): Promise<VolumeSnapshot[]> {
    const snapshots: VolumeSnapshot[] = [];
    for (const id of await this.#idsIn(this.#snapshots, SNAPSHOT_ID_PREFIX)) {
      const record = await this.#readSnapshot(id);
      if (record !== null) snapshots.push({ ...record });
    }
    return snapshots;
  }

  /** Removes a snapshot; gone already is fine (not part of the interface). */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    if (!isSnapshotId(snapshotId)) return;
    return await this.#locks.run(`snapshot:${snapshotId}`, async () => {
      const record = this.#snapshotRecord(snapshotId);
      if (await removeIfPresent(record)) await syncDirectoryOf(record);
      const image = this.#snapshotImage(snapshotId);
      await removeIfPresent(`${image}.partial`);
      await removeIfPresent(image);
    });
  }

  /**
   * The attached volume's loop device, checked against the kernel: a
   * device that vanished or now backs another file is refused
   * (`storage.not_found`), and an attach makes it again.
   */
  devicePath(volume: CloudVolume): string {
    const id = checkVolumeId(volume.id);
    let record: VolumeRecord | null = null;
    if (id !== null) {
      try {
        const file = this.#record(id);
        record = parseVolumeRecord(Deno.readTextFileSync(file), file);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (record?.loopDevice == null) {
      throw new StorageError(
        "storage.not_found",
        `volume ${volume.name} is not attached here`,
      );
    }
    if (backingFileSync(record.loopDevice) !== this.#image(record.id)) {
      throw new StorageError(
        "storage.not_found",
        `volume ${volume.name}'s loop device ${record.loopDevice} is gone: attach it again`,
      );
    }
    return record.loopDevice;
  }

  async #copySnapshot(
    spec: VolumeSpec,
    target: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const snapshotId = spec.fromSnapshot ?? "";
    const found = isSnapshotId(snapshotId)
      ? await this.#readSnapshot(snapshotId)
      : null;
    if (found === null) {
      throw new StorageError(
        "storage.not_found",
        `no snapshot ${snapshotId} to create ${spec.name} from`,
      );
    }
    if (found.sizeBytes > spec.sizeBytes) {
      throw new StorageError(
        "storage.invalid",
        `${spec.name} (${spec.sizeBytes} bytes) is smaller than snapshot ${found.name} (${found.sizeBytes} bytes)`,
      );
    }
    await this.#locks.run(
      `snapshot:${snapshotId}`,
      () =>
        this.#command(() =>
          runChecked(this.#run, [
            "cp",
            "--sparse=always",
            this.#snapshotImage(snapshotId),
            target,
          ], signal)
        ),
    );
  }

  /**
   * Removes every loop device backed by `image`; refused (`storage.busy`)
   * while one is mounted here or held open (a container's mount, say).
   */
  async #removeLoops(
    image: string,
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const devices = await this.#loops(image, signal);
    if (devices.length === 0) return;
    const mounted = await this.#mountPointsOf(devices, signal);
    if (mounted.length > 0) {
      throw new StorageError(
        "storage.busy",
        `volume ${name} is mounted at ${
          mounted.join(", ")
        }: release it before detaching`,
      );
    }
    for (const device of devices) {
      await this.#command(() => removeLoop(this.#run, device, signal));
    }
    const left = await this.#loops(image, signal);
    if (left.length > 0) {
      throw new StorageError(
        "storage.busy",
        `volume ${name}'s ${
          left.join(", ")
        } is still held open (a process or another mount namespace uses it); it clears itself once let go`,
      );
    }
  }

  /** Where the loop devices are mounted in the runner's namespace. */
  async #mountPointsOf(
    devices: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const mounts = parseMountInfo(
      await this.#command(() =>
        runChecked(this.#run, ["cat", "/proc/self/mountinfo"], signal)
      ),
    );
    const numbers = new Set<string>();
    for (const device of devices) {
      const number = await blockDeviceNumber(this.#run, device, signal);
      if (number !== null) numbers.add(number);
    }
    return mounts.filter((m) => numbers.has(m.device)).map((m) => m.mountPoint);
  }

  /**
   * Copies the volume's image; while it is mounted here its filesystem is
   * frozen for the copy (flushed, writes held), so the copy is consistent.
   */
  async #copyImage(
    image: string,
    target: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const [frozen] = await this.#mountPointsOf(
      await this.#loops(image, signal),
      signal,
    );
    const copy = () =>
      this.#command(() =>
        runChecked(
          this.#run,
          ["cp", "--sparse=always", image, target],
          signal,
        )
      );
    if (frozen === undefined) {
      await copy();
      return;
    }
    await this.#command(() =>
      runChecked(this.#run, ["fsfreeze", "--freeze", frozen], signal)
    );
    try {
      await copy();
    } finally {
      // Not the caller's signal: a frozen filesystem must always thaw.
      await this.#command(() =>
        runChecked(this.#run, ["fsfreeze", "--unfreeze", frozen])
      );
    }
  }

  #loops(image: string, signal: AbortSignal | undefined): Promise<string[]> {
    return this.#command(() => loopDevicesOf(this.#run, image, signal));
  }

  async #requireVolume(volumeId: string): Promise<VolumeRecord> {
    const id = checkVolumeId(volumeId);
    const record = id === null ? null : await this.#readVolume(id);
    if (record === null) {
      throw new StorageError("storage.not_found", `no volume ${volumeId}`);
    }
    return record;
  }

  async #update(
    record: VolumeRecord,
    change: Partial<Pick<VolumeRecord, "attachedTo" | "loopDevice">>,
  ): Promise<VolumeRecord> {
    const next = { ...record, ...change };
    await writeRecord(this.#record(record.id), next);
    return next;
  }

  #readVolume(id: string): Promise<VolumeRecord | null> {
    return this.#readMetadata(this.#record(id), parseVolumeRecord);
  }

  #readSnapshot(id: string): Promise<SnapshotRecord | null> {
    return this.#readMetadata(this.#snapshotRecord(id), parseSnapshotRecord);
  }

  async #readMetadata<T>(
    file: string,
    parse: (text: string, file: string) => T,
  ): Promise<T | null> {
    try {
      return await readRecord(file, parse);
    } catch (error) {
      throw new StorageError(
        "storage.unavailable",
        `cannot read ${file}: ${(error as Error).message}`,
        null,
        { cause: error },
      );
    }
  }

  /** The ids with a record in `dir`, sorted. */
  async #idsIn(dir: string, prefix: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const id = entry.name.slice(0, -".json".length);
      if (id.startsWith(prefix) && isVolumeName(id.slice(prefix.length))) {
        ids.push(id);
      }
    }
    return ids.sort();
  }

  /** Runs a step that shells out, its failure a `storage.unavailable`. */
  async #command<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof StorageCommandError) {
        throw new StorageError("storage.unavailable", error.message, null, {
          cause: error,
        });
      }
      throw error;
    }
  }

  #image(id: string): string {
    return `${this.#dir}/${id}.img`;
  }

  #record(id: string): string {
    return `${this.#dir}/${id}.json`;
  }

  #snapshotImage(id: string): string {
    return `${this.#snapshots}/${id}.img`;
  }

  #snapshotRecord(id: string): string {
    return `${this.#snapshots}/${id}.json`;
  }
}

function toCloudVolume(record: VolumeRecord): CloudVolume {
  return {
    id: record.id,
    name: record.name,
    sizeBytes: record.sizeBytes,
    region: record.region,
    attachedTo: record.attachedTo,
    tags: [...record.tags],
    createdAtMs: record.createdAtMs,
  };
}

function checkSpec(spec: VolumeSpec): void {
  checkName(spec.name, "volume");
  if (
    !Number.isSafeInteger(spec.sizeBytes) ||
    spec.sizeBytes < MIN_SIZE_BYTES || spec.sizeBytes % SECTOR_BYTES !== 0
  ) {
    throw new StorageError(
      "storage.invalid",
      `volume size ${spec.sizeBytes} is not a whole number of ${SECTOR_BYTES}-byte sectors of at least ${MIN_SIZE_BYTES} bytes`,
    );
  }
  if (
    !Array.isArray(spec.tags) ||
    !spec.tags.every((tag) => typeof tag === "string")
  ) {
    throw new StorageError("storage.invalid", "volume tags must be strings");
  }
}

function checkName(name: string, what: string): void {
  if (typeof name !== "string" || !isVolumeName(name)) {
    throw new StorageError(
      "storage.invalid",
      `${what} name "${name}" is not valid: ${VOLUME_NAME_RULE}`,
    );
  }
}

function checkMachineId(machineId: string): void {
  if (
    typeof machineId !== "string" || machineId.length === 0 ||
    machineId.length > 255 ||
    [...machineId].some((c) => c.charCodeAt(0) < 0x20 || c === "\x7f")
  ) {
    throw new StorageError(
      "storage.invalid",
      `machine id "${machineId}" is not valid`,
    );
  }
}

/** The id when it names a volume of this driver, else null (never a path). */
function checkVolumeId(id: string): string | null {
  return typeof id === "string" && id.startsWith(VOLUME_ID_PREFIX) &&
      isVolumeName(id.slice(VOLUME_ID_PREFIX.length))
    ? id
    : null;
}

function isSnapshotId(id: string): boolean {
  return id.startsWith(SNAPSHOT_ID_PREFIX) &&
    isVolumeName(id.slice(SNAPSHOT_ID_PREFIX.length));
}

async function syncFile(path: string): Promise<void> {
  using file = await Deno.open(path, { read: true, write: true });
  await file.sync();
}

/** True when it was there. */
async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Runs the calls for one key one at a time, in order. */
class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, body: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const result = before.catch(() => {}).then(body);
    const tail = result.catch(() => {});
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
