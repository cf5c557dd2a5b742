/**
 * A private bed for storage's tests: a temporary directory that holds the
 * tests' image files and mount points. Loop devices and mounts belong to
 * the whole machine, so the bed finds its own by their paths under the
 * directory; `withBed` fails a test that leaves any behind, then clears
 * them whatever happened.
 */
import { type CommandResult, localRunner } from "./command.ts";
import { isUnder, parseMountInfo } from "./mountinfo.ts";

export class StorageBed {
  readonly run = localRunner();

  private constructor(readonly dir: string) {}

  static async open(): Promise<StorageBed> {
    const dir = await Deno.makeTempDir({ prefix: "mill-storage-" });
    return new StorageBed(await Deno.realPath(dir));
  }

  /** Runs in this process's namespaces; throws on failure. */
  async sh(argv: readonly string[]): Promise<string> {
    const result = await this.try(argv);
    if (result.code !== 0) {
      throw new Error(`${argv.join(" ")}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  try(argv: readonly string[]): Promise<CommandResult> {
    return this.run(argv);
  }

  /** A sparse file of `sizeBytes` under the bed on a new loop device. */
  async loopDevice(name: string, sizeBytes = 32 << 20): Promise<string> {
    const file = `${this.dir}/${name}.img`;
    using out = await Deno.open(file, { write: true, createNew: true });
    await out.truncate(sizeBytes);
    return (await this.sh(["losetup", "--find", "--show", file])).trim();
  }

  /** `NAME backing-file` of the machine's loop devices backed under the bed. */
  async ownLoops(): Promise<string[]> {
    const out = await this.sh([
      "losetup",
      "--list",
      "--noheadings",
      "--raw",
      "--output",
      "NAME,BACK-FILE",
    ]);
    return out.split("\n").filter((line) => {
      const file = line.slice(line.indexOf(" ") + 1);
      return isUnder(file, this.dir);
    }).sort();
  }

  /** The mount points under the bed. */
  async ownMounts(): Promise<string[]> {
    const text = await Deno.readTextFile("/proc/self/mountinfo");
    return parseMountInfo(text).map((m) => m.mountPoint).filter((p) =>
      isUnder(p, this.dir)
    );
  }

  /** Unmounts, detaches and removes whatever the bed still holds. */
  async close(): Promise<void> {
    for (const mountPoint of (await this.ownMounts()).reverse()) {
      await this.try(["umount", "--lazy", mountPoint]);
    }
    for (const line of await this.ownLoops()) {
      await this.try(["losetup", "--detach", line.split(" ")[0] ?? ""]);
    }
    await Deno.remove(this.dir, { recursive: true });
  }
}

/**
 * Runs `body` with a fresh bed; a body that returns with a loop device or
 * a mount of the bed still there fails. The bed is cleared either way.
 */
export async function withBed(
  body: (bed: StorageBed) => Promise<void>,
): Promise<void> {
  const bed = await StorageBed.open();
  try {
    await body(bed);
    const left = [...await bed.ownMounts(), ...await bed.ownLoops()];
    if (left.length > 0) throw new Error(`left behind: ${left.join("; ")}`);
  } finally {
    await bed.close();
  }
}
