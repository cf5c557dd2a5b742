/**
 * The local driver's metadata: one small JSON file per volume and per
 * snapshot beside its image, written whole or not at all (a temporary
 * file, fsync, rename, fsync of the directory), so a crash leaves the old
 * record or the new one, never half of either.
 */

export interface VolumeRecord {
  readonly id: string;
  readonly name: string;
  readonly sizeBytes: number;
  readonly region: string | null;
  readonly tags: readonly string[];
  /** The machine it is attached to; set before the loop device is made. */
  readonly attachedTo: string | null;
  /** The loop device last set up for it (`/dev/loop3`). */
  readonly loopDevice: string | null;
  readonly createdAtMs: number;
}

export interface SnapshotRecord {
  readonly id: string;
  readonly name: string;
  readonly volumeId: string;
  readonly sizeBytes: number;
  readonly createdAtMs: number;
}

export function parseVolumeRecord(text: string, file: string): VolumeRecord {
  const value = parseObject(text, file);
  const record: VolumeRecord = {
    id: field(value, "id", isString, file),
    name: field(value, "name", isString, file),
    sizeBytes: field(value, "sizeBytes", isSize, file),
    region: field(value, "region", isStringOrNull, file),
    tags: field(value, "tags", isStrings, file),
    attachedTo: field(value, "attachedTo", isStringOrNull, file),
    loopDevice: field(value, "loopDevice", isStringOrNull, file),
    createdAtMs: field(value, "createdAtMs", isSize, file),
  };
  return record;
}

export function parseSnapshotRecord(
  text: string,
  file: string,
): SnapshotRecord {
  const value = parseObject(text, file);
  return {
    id: field(value, "id", isString, file),
    name: field(value, "name", isString, file),
    volumeId: field(value, "volumeId", isString, file),
    sizeBytes: field(value, "sizeBytes", isSize, file),
    createdAtMs: field(value, "createdAtMs", isSize, file),
  };
}

/** Reads and parses `file`; null when it does not exist. */
export async function readRecord<T>(
  file: string,
  parse: (text: string, file: string) => T,
): Promise<T | null> {
  try {
    return parse(await Deno.readTextFile(file), file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Replaces `file` with `value` as JSON, durably and atomically. */
export async function writeRecord(file: string, value: unknown): Promise<void> {
  const temporary = `${file}.tmp`;
  {
    using out = await Deno.open(temporary, {
      write: true,
      create: true,
      truncate: true,
    });
    await out.write(new TextEncoder().encode(JSON.stringify(value) + "\n"));
    await out.sync();
  }
  await Deno.rename(temporary, file);
  await syncDirectoryOf(file);
}

/** Makes a rename or removal in the file's directory durable. */
export async function syncDirectoryOf(file: string): Promise<void> {
  using dir = await Deno.open(file.slice(0, file.lastIndexOf("/")) || "/", {
    read: true,
  });
  await dir.sync();
}

function parseObject(text: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${file} does not hold an object`);
  }
  return value as Record<string, unknown>;
}

function field<T>(
  value: Record<string, unknown>,
  key: string,
  is: (v: unknown) => v is T,
  file: string,
): T {
  const v = value[key];
  if (!is(v)) throw new Error(`${file}: "${key}" is missing or malformed`);
  return v;
}

function isString(v: unknown): v is string {
  return typeof v === "string";
}

function isStringOrNull(v: unknown): v is string | null {
  return v === null || typeof v === "string";
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every(isString);
}

function isSize(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
