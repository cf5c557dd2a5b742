/**
 * The kernel's table of mounts as `/proc/self/mountinfo` prints it (see
 * proc(5)): one line per mount, paths with space, tab, newline and
 * backslash escaped as three octal digits.
 */

export interface MountEntry {
  /** `major:minor` of the mounted filesystem's device. */
  readonly device: string;
  /** Where it is mounted, unescaped. */
  readonly mountPoint: string;
  readonly fsType: string;
  /** The mount source (`/dev/loop3`), unescaped. */
  readonly source: string;
}

/** Parses the table; lines it cannot read are skipped, never guessed at. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    // id parent major:minor root mount-point options [optional...] - type source super-options
    const separator = fields.indexOf("-", 6);
    const device = fields[2];
    const mountPoint = fields[4];
    const fsType = fields[separator + 1];
    const source = fields[separator + 2];
    if (
      separator < 0 || device === undefined || mountPoint === undefined ||
      fsType === undefined || source === undefined ||
      !/^\d+:\d+$/.test(device)
    ) {
      continue;
    }
    entries.push({
      device,
      mountPoint: unescapeMountPath(mountPoint),
      fsType,
      source: unescapeMountPath(source),
    });
  }
  return entries;
}

function unescapeMountPath(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** True when `path` is `root` or inside it (both absolute, no trailing slash). */
export function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === "/" ? "/" : `${root}/`);
}
