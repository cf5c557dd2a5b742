/**
 * The real side of the fake's volumes: a sparse file per volume and per
 * snapshot under the fake's data directory, and, while a volume is
 * attached, a loop device over its file with the link DigitalOcean's udev
 * rules make (`scsi-0DO_Volume_<name>`) in the droplet's by-id directory.
 *
 * A detach removes the link and runs `losetup -d`: like the real API, which
 * detaches a volume even while the droplet has it mounted, it never refuses.
 * The kernel then lets the loop device go once its last user (a mount) does
 * (autoclear), so a mounted volume's device outlives its detach until the
 * unmount; `leftovers()` shows it until then.
 */

const GIB = 1024 ** 3;

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout).trim();
}

export interface Leftovers {
  /** Backing files of volumes and snapshots. */
  readonly files: string[];
  /** Loop devices over one of those files. */
  readonly loopDevices: string[];
  /** `scsi-0DO_Volume_*` links in the droplets' by-id directories. */
  readonly symlinks: string[];
}

export class Devices {
  readonly #dir: string;
  /** Volume id → its loop device while attached. */
  readonly #loops = new Map<string, string>();

  constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  volumeFile(volumeId: string): string {
    return `${this.#dir}/volume-${volumeId}.img`;
  }

  snapshotFile(snapshotId: string): string {
    return `${this.#dir}/snapshot-${snapshotId}.img`;
  }

  /** A sparse file of the volume's size: blank, from a snapshot, or formatted. */
  async createVolume(
    volumeId: string,
    gigabytes: number,
    from: { snapshotId: string } | null,
    filesystemType: string,
  ): Promise<void> {
    const file = this.volumeFile(volumeId);
    try {
      if (from !== null) {
        await run("cp", [
          "--sparse=always",
          this.snapshotFile(from.snapshotId),
          file,
        ]);
      }
      const handle = await Deno.open(file, { create: true, write: true });
      try {
        const { size } = await handle.stat();
        if (size < gigabytes * GIB) await handle.truncate(gigabytes * GIB);
      } finally {
        handle.close();
      }
      if (filesystemType !== "" && from === null) {
        await run(`mkfs.${filesystemType}`, [
          "-q",
          ...(filesystemType === "ext4" ? ["-F"] : ["-f"]),
          file,
        ]);
      }
    } catch (error) {
      await Deno.remove(file).catch(() => {});
      throw error;
    }
  }

  async removeVolume(volumeId: string): Promise<void> {
    await Deno.remove(this.volumeFile(volumeId)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** A copy of the volume's file as it is now (sparse). */
  async snapshot(volumeId: string, snapshotId: string): Promise<number> {
    const file = this.snapshotFile(snapshotId);
    await run("cp", ["--sparse=always", this.volumeFile(volumeId), file]);
    const { blocks } = await Deno.stat(file);
    return Math.ceil(((blocks ?? 0) * 512) / GIB);
  }

  async removeSnapshot(snapshotId: string): Promise<void> {
    await Deno.remove(this.snapshotFile(snapshotId)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** The loop device and the by-id link. */
  async attach(volumeId: string, name: string, byIdDir: string): Promise<void> {
    const loop = await run("losetup", [
      "--find",
      "--show",
      this.volumeFile(volumeId),
    ]);
    this.#loops.set(volumeId, loop);
    const link = `${byIdDir}/scsi-0DO_Volume_${name}`;
    try {
      await Deno.mkdir(byIdDir, { recursive: true });
      await Deno.remove(link).catch(() => {});
      await Deno.symlink(loop, link);
    } catch (error) {
      this.#loops.delete(volumeId);
      await run("losetup", ["-d", loop]).catch(() => {});
      throw error;
    }
  }

  async detach(volumeId: string, name: string, byIdDir: string): Promise<void> {
    await Deno.remove(`${byIdDir}/scsi-0DO_Volume_${name}`).catch(() => {});
    const loop = this.#loops.get(volumeId);
    this.#loops.delete(volumeId);
    if (loop !== undefined) await run("losetup", ["-d", loop]);
  }

  /** Detaches every loop device this fake made and removes its files. */
  async cleanup(links: readonly string[]): Promise<void> {
    for (const link of links) await Deno.remove(link).catch(() => {});
    for (const loop of this.#loops.values()) {
      await run("losetup", ["-d", loop]).catch(() => {});
    }
    this.#loops.clear();
    for await (const entry of Deno.readDir(this.#dir)) {
      await Deno.remove(`${this.#dir}/${entry.name}`).catch(() => {});
    }
  }

  async leftovers(byIdDirs: readonly string[]): Promise<Leftovers> {
    const files: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        files.push(`${this.#dir}/${entry.name}`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const listing = JSON.parse(
      (await run("losetup", ["--list", "--json"])) || '{"loopdevices":[]}',
    ) as { loopdevices: { name: string; "back-file": string | null }[] };
    const loopDevices = listing.loopdevices
      .filter((d) => (d["back-file"] ?? "").startsWith(`${this.#dir}/`))
      .map((d) => d.name);
    const symlinks: string[] = [];
    for (const dir of new Set(byIdDirs)) {
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (entry.name.startsWith("scsi-0DO_Volume_")) {
            symlinks.push(`${dir}/${entry.name}`);
          }
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return { files: files.sort(), loopDevices, symlinks: symlinks.sort() };
  }
}
