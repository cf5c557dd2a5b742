/**
 * The node's side of a volume, whatever the provider: once a driver has
 * attached the volume, find its block device, give it an ext4 filesystem
 * only when it is blank, and mount it under mill's data dir; before the
 * driver detaches it, flush and unmount it. The container sees the mount
 * through a bind mount in its OCI spec (README.md).
 *
 * The rule above all: never format a device that holds anything. A device
 * is blank only when `blkid -p` finds no signature and its first and last
 * MiB read as zeros; anything else is mounted as ext4 or refused.
 */

import {
  blockDeviceNumber,
  type CommandRunner,
  localRunner,
  runChecked,
  StorageCommandError,
} from "./command.ts";
import { isUnder, type MountEntry, parseMountInfo } from "./mountinfo.ts";
import { isVolumeName, VOLUME_NAME_RULE } from "./names.ts";

export type { MountEntry } from "./mountinfo.ts";

export type DeviceErrorCode =
  /** The device node did not appear in time, or is not a block device. */
  | "device.missing"
  /** The device holds something that is not ext4: never formatted, never mounted. */
  | "device.foreign"
  /** Another device is mounted at the mount point. */
  | "device.mount_point_taken"
  /** The mount is in use (an open file, a cwd); stop its users and retry. */
  | "device.busy";

export class DeviceError extends Error {
  override name = "DeviceError";
  constructor(readonly code: DeviceErrorCode, message: string) {
    super(message);
  }
}

/** Where a volume is mounted on its node. */
export function volumeMountPoint(dataDir: string, volumeName: string): string {
  if (!isVolumeName(volumeName)) {
    throw new Error(
      `volume name "${volumeName}" is not valid: ${VOLUME_NAME_RULE}`,
    );
  }
  return `${dataDir.replace(/\/+$/, "")}/volumes/mnt/${volumeName}`;
}

export interface PrepareVolumeOptions {
  /** The block device (`/dev/loop3`, `/dev/disk/by-id/scsi-0DO_Volume_…`). */
  readonly device: string;
  readonly mountPoint: string;
  /** The filesystem's label when one is made (ext4 keeps 16 bytes). */
  readonly label?: string;
  /** How long to wait for the device node to appear; 30 s by default. */
  readonly waitMs?: number;
  readonly run?: CommandRunner;
  readonly signal?: AbortSignal;
}

export interface PreparedVolume {
  readonly device: string;
  readonly mountPoint: string;
  /** True when this call made the filesystem (the device was blank). */
  readonly formatted: boolean;
}

const MOUNT_OPTIONS = "noatime,errors=remount-ro";
const POLL_MS = 100;
/** How much of each end of the device must read as zeros to count as blank. */
const BLANK_PROBE_BYTES = 1 << 20;

/**
 * Mounts the volume's device at `mountPoint`, making an ext4 filesystem
 * first only when the device is blank. Idempotent: already mounted there
 * is fine; another device there is refused.
 */
export async function prepareVolume(
  options: PrepareVolumeOptions,
): Promise<PreparedVolume> {
  const { device, signal } = options;
  const run = options.run ?? localRunner();
  checkAbsolute(device, "device");
  checkAbsolute(options.mountPoint, "mount point");
  await Deno.mkdir(options.mountPoint, { recursive: true });
  // As the kernel names it, for comparing with the mount table.
  const mountPoint = await Deno.realPath(options.mountPoint);
  const deviceNumber = await waitForBlockDevice(
    run,
    device,
    options.waitMs ?? 30_000,
    signal,
  );
  const current = (await readMounts(run, signal)).filter((m) =>
    m.mountPoint === mountPoint
  );
  if (current.some((m) => m.device === deviceNumber)) {
    return { device, mountPoint, formatted: false };
  }
  if (current.length > 0) {
    throw new DeviceError(
      "device.mount_point_taken",
      `${mountPoint} already has ${
        current.map((m) => m.source).join(", ")
      } mounted, not ${device}`,
    );
  }
  const found = await probe(run, device, signal);
  let formatted = false;
  if (found === null) {
    await runChecked(run, [
      "mkfs.ext4",
      "-F",
      "-q",
      "-L",
      (options.label ?? basename(mountPoint)).slice(0, 16),
      device,
    ], signal);
    formatted = true;
  } else if (found !== "ext4") {
    throw new DeviceError(
      "device.foreign",
      `${device} holds ${found}, not ext4: mill formats only blank devices and mounts only ext4, so it leaves this one alone`,
    );
  }
  await runChecked(run, [
    "mount",
    "-t",
    "ext4",
    "-o",
    MOUNT_OPTIONS,
    device,
    mountPoint,
  ], signal);
  return { device, mountPoint, formatted };
}

export interface ReleaseVolumeOptions {
  readonly mountPoint: string;
  /** How long to retry an unmount that is busy; 2 s by default. */
  readonly busyRetryMs?: number;
  readonly run?: CommandRunner;
  readonly signal?: AbortSignal;
}

/**
 * Flushes and unmounts the volume at `mountPoint`, so the driver can detach
 * it. Idempotent: nothing mounted there is fine. Busy is retried briefly,
 * then refused with `device.busy`.
 */
export async function releaseVolume(
  options: ReleaseVolumeOptions,
): Promise<{ readonly unmounted: boolean }> {
  const { signal } = options;
  const run = options.run ?? localRunner();
  checkAbsolute(options.mountPoint, "mount point");
  const mountPoint = await realPathOrNull(options.mountPoint);
  // No directory: nothing can be mounted there.
  if (mountPoint === null) return { unmounted: false };
  const deadline = Date.now() + (options.busyRetryMs ?? 2_000);
  let unmounted = false;
  // A loop, for mounts stacked on the same point.
  while (await isMountedAt(run, mountPoint, signal)) {
    await runChecked(run, ["sync", "-f", mountPoint], signal);
    const result = await run(["umount", mountPoint], signal);
    if (result.code === 0) {
      unmounted = true;
      continue;
    }
    if (!/busy/i.test(result.stderr)) {
      throw new StorageCommandError(["umount", mountPoint], result);
    }
    if (Date.now() >= deadline) {
      throw new DeviceError(
        "device.busy",
        `${mountPoint} is busy (a process has a file or directory open in it): stop what uses it, then release it again`,
      );
    }
    await sleep(POLL_MS * 2, signal);
  }
  return { unmounted };
}

/** The mounts at or under `root` (leftovers after a crash, for a sweep). */
export async function mountedVolumes(
  root: string,
  run: CommandRunner = localRunner(),
  signal?: AbortSignal,
): Promise<MountEntry[]> {
  checkAbsolute(root, "root");
  const base = await realPathOrNull(root);
  if (base === null) return [];
  return (await readMounts(run, signal)).filter((m) =>
    isUnder(m.mountPoint, base)
  );
}

/** The device number (`major:minor`) of the block device once it exists. */
async function waitForBlockDevice(
  run: CommandRunner,
  device: string,
  waitMs: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    signal?.throwIfAborted();
    let number: string | null;
    try {
      number = await blockDeviceNumber(run, device, signal);
    } catch (error) {
      throw new DeviceError("device.missing", (error as Error).message);
    }
    if (number !== null) return number;
    if (Date.now() >= deadline) {
      throw new DeviceError(
        "device.missing",
        `${device} did not appear within ${waitMs} ms`,
      );
    }
    await sleep(POLL_MS, signal);
  }
}

/**
 * What the device holds: a filesystem type (or partition table, or `data`
 * for bytes blkid cannot name), or null when it is blank.
 */
async function probe(
  run: CommandRunner,
  device: string,
  signal: AbortSignal | undefined,
): Promise<string | null> {
  const argv = ["blkid", "-p", "-o", "export", device];
  const result = await run(argv, signal);
  if (result.code === 0) {
    const fields = new Map(
      result.stdout.split("\n").map((line) => {
        const at = line.indexOf("=");
        return [line.slice(0, at), line.slice(at + 1)] as const;
      }),
    );
    const type = fields.get("TYPE");
    const table = fields.get("PTTYPE");
    return type ?? (table ? `a ${table} partition table` : "a signature");
  }
  // 2: nothing found. Anything else (8: ambivalent signatures, errors) is
  // not blank.
  if (result.code !== 2) throw new StorageCommandError(argv, result);
  return await endsAreZero(run, device, signal)
    ? null
    : "data without a known signature";
}

/**
 * Whether the first and last MiB of the device are all zeros. Read by
 * `cmp` against /dev/zero, not by this process: Deno refuses a device
 * file without every permission, and the binary runs with a scoped set.
 */
async function endsAreZero(
  run: CommandRunner,
  device: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const size = Number(
    (await runChecked(run, ["blockdev", "--getsize64", device], signal))
      .trim(),
  );
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new DeviceError("device.missing", `${device} has no size`);
  }
  for (const start of [0, Math.max(0, size - BLANK_PROBE_BYTES)]) {
    const want = Math.min(BLANK_PROBE_BYTES, size - start);
    const argv = [
      "cmp",
      "--silent",
      `--ignore-initial=${start}:0`,
      `--bytes=${want}`,
      device,
      "/dev/zero",
    ];
    const result = await run(argv, signal);
    // 0: the same bytes (zeros); 1: they differ; else an error.
    if (result.code === 1) return false;
    if (result.code !== 0) throw new StorageCommandError(argv, result);
  }
  return true;
}

async function readMounts(
  run: CommandRunner,
  signal: AbortSignal | undefined,
): Promise<MountEntry[]> {
  // Through the runner: the mounts of the namespace the commands run in.
  return parseMountInfo(
    await runChecked(run, ["cat", "/proc/self/mountinfo"], signal),
  );
}

async function isMountedAt(
  run: CommandRunner,
  mountPoint: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  return (await readMounts(run, signal)).some((m) =>
    m.mountPoint === mountPoint
  );
}

async function realPathOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function checkAbsolute(path: string, what: string): void {
  if (!path.startsWith("/") || path.split("/").includes("..")) {
    throw new Error(`${what} "${path}" must be an absolute path without ..`);
  }
}

function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() || "mill";
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", abort, { once: true });
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
  });
}
