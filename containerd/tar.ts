/**
 * Just enough ustar: a writer for the test images and OCI archives we build,
 * and an index reader (header offsets) for importing OCI image archives.
 */
import { assert } from "./errors.ts";

const BLOCK = 512;

export interface TarEntry {
  readonly name: string;
  readonly type: "file" | "dir" | "symlink";
  readonly mode?: number;
  readonly data?: Uint8Array;
  readonly linkName?: string;
}

function writeString(
  block: Uint8Array,
  offset: number,
  length: number,
  value: string,
): void {
  const bytes = new TextEncoder().encode(value);
  assert(
    bytes.byteLength <= length,
    `tar field "${value}" fits ${length} bytes`,
  );
  block.set(bytes, offset);
}

function writeOctal(
  block: Uint8Array,
  offset: number,
  length: number,
  value: number,
): void {
  writeString(
    block,
    offset,
    length,
    value.toString(8).padStart(length - 1, "0"),
  );
}

function header(entry: TarEntry, size: number): Uint8Array {
  const block = new Uint8Array(BLOCK);
  let name = entry.name;
  let prefix = "";
  if (name.length > 100) {
    const cut = name.lastIndexOf("/", 155);
    assert(
      cut > 0 && name.length - cut - 1 <= 100,
      `tar name "${name}" splits into prefix and name`,
    );
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  writeString(block, 0, 100, name);
  writeOctal(
    block,
    100,
    8,
    entry.mode ?? (entry.type === "dir" ? 0o755 : 0o644),
  );
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0);
  block.fill(0x20, 148, 156);
  block[156] = entry.type === "dir"
    ? 0x35
    : entry.type === "symlink"
    ? 0x32
    : 0x30;
  if (entry.linkName !== undefined) {
    writeString(block, 157, 100, entry.linkName);
  }
  writeString(block, 257, 6, "ustar");
  writeString(block, 263, 2, "00");
  writeString(block, 345, 155, prefix);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeString(block, 148, 7, sum.toString(8).padStart(6, "0") + "\0");
  return block;
}

/** Packs entries into an uncompressed tar. */
export function packTar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const data = entry.type === "file"
      ? entry.data ?? new Uint8Array()
      : new Uint8Array();
    parts.push(header(entry, data.byteLength));
    parts.push(data);
    const pad = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

export interface TarIndexEntry {
  readonly name: string;
  /** Byte offset of the entry's data in the archive. */
  readonly offset: number;
  readonly size: number;
  readonly type: string;
}

/** Entries we read from an archive before we call it malformed. */
export const TAR_ENTRIES_MAX = 100_000;

function readString(block: Uint8Array, offset: number, length: number): string {
  const slice = block.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? slice.subarray(0, end) : slice);
}

/** Parses one 512-byte header; null at the end-of-archive marker. */
export function parseTarHeader(
  block: Uint8Array,
): { name: string; size: number; type: string } | null {
  assert(block.byteLength === BLOCK, "a tar header is one block");
  if (block.every((b) => b === 0)) return null;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  const stored = parseInt(readString(block, 148, 8).trim(), 8);
  if (stored !== sum) throw new Error("tar header checksum mismatch");
  const name = readString(block, 0, 100);
  const prefix = readString(block, 345, 155);
  const size = parseInt(readString(block, 124, 12).trim() || "0", 8);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new Error("tar header size is invalid");
  }
  const type = String.fromCharCode(block[156] || 0x30);
  return { name: prefix ? `${prefix}/${name}` : name, size, type };
}

/** Lists the entries of a tar file with the offsets of their data. */
export async function indexTar(file: Deno.FsFile): Promise<TarIndexEntry[]> {
  const entries: TarIndexEntry[] = [];
  let offset = 0;
  const block = new Uint8Array(BLOCK);
  for (let count = 0; count < TAR_ENTRIES_MAX; count++) {
    await file.seek(offset, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < BLOCK) {
      const n = await file.read(block.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    if (filled < BLOCK) throw new Error("tar archive ends inside a header");
    const parsed = parseTarHeader(block);
    if (parsed === null) return entries;
    const name = parsed.name.replace(/^\.\//, "");
    entries.push({
      name,
      offset: offset + BLOCK,
      size: parsed.size,
      type: parsed.type,
    });
    offset += BLOCK + Math.ceil(parsed.size / BLOCK) * BLOCK;
  }
  throw new Error(`tar archive has more than ${TAR_ENTRIES_MAX} entries`);
}
