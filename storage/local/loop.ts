/**
 * Loop devices for the local driver's image files, with `losetup`. Loop
 * devices belong to the whole machine (not to a namespace), and one can
 * vanish behind mill's back (`losetup -d` by hand), so each is looked up
 * by its backing file rather than remembered.
 */

import { type CommandRunner, runChecked } from "../command.ts";

/** The loop devices whose backing file is `image` (by inode, as losetup matches). */
export async function loopDevicesOf(
  run: CommandRunner,
  image: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const out = await runChecked(
    run,
    ["losetup", "--noheadings", "--output", "NAME", "--associated", image],
    signal,
  );
  return out.split("\n").map((line) => line.trim()).filter((line) =>
    line.startsWith("/dev/")
  );
}

/** Sets up a new loop device for `image` and returns its path. */
export async function setUpLoop(
  run: CommandRunner,
  image: string,
  signal?: AbortSignal,
): Promise<string> {
  const device = (await runChecked(
    run,
    ["losetup", "--find", "--show", image],
    signal,
  )).trim();
  if (!/^\/dev\/loop\d+$/.test(device)) {
    throw new Error(`losetup answered "${device}", not a loop device`);
  }
  return device;
}

/**
 * Detaches the loop device. The kernel lets go of it only once nothing
 * holds it open (until then it is marked to clear itself), so callers
 * check with `loopDevicesOf` that it is gone.
 */
export async function removeLoop(
  run: CommandRunner,
  device: string,
  signal?: AbortSignal,
): Promise<void> {
  await runChecked(run, ["losetup", "--detach", device], signal);
}

/**
 * The backing file of a loop device, synchronously (for `devicePath`);
 * null when the device has none (cleared, never set up). Asked of
 * `losetup`: Deno refuses to read sysfs's device files without every
 * permission, and the binary runs with a scoped set.
 */
export function backingFileSync(device: string): string | null {
  const out = new Deno.Command("losetup", {
    args: ["--list", "--noheadings", "--output", "BACK-FILE", device],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  if (!out.success) return null;
  const file = new TextDecoder().decode(out.stdout).trim()
    .replace(/ \(deleted\)$/, "");
  return file === "" ? null : file;
}
