/**
 * Every single-bit flip of small real WALs, one at a time: the open must
 * either refuse with `raft.storage.corrupt` (naming the flipped file, at or
 * before the flipped byte) or recover every acknowledged record. A flip is
 * never taken for a torn tail and cut: that would lose an acknowledged
 * write without a word.
 */
import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import type { Entry } from "../types.ts";
import { StorageError } from "./errors.ts";
import { Wal } from "./wal.ts";

const BASE = { index: 0, term: 0 };
/** Bound on the flips tried per WAL (each is one open on real files). */
const FLIPS_MAX = 8_000;

function entry(index: number, term: number): Entry {
  return {
    index,
    term,
    kind: index % 3 === 0 ? "noop" : "command",
    data: new TextEncoder().encode(`v${index}`),
  };
}

interface Written {
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly entries: Entry[];
  readonly commit: number;
}

/** Writes `count` entries, each append acknowledged (fsynced) on its own. */
async function writeAcknowledged(
  dir: string,
  count: number,
  segmentBytesMax: number,
): Promise<Written> {
  const { wal } = await Wal.open(dir, BASE, { segmentBytesMax });
  const list: Entry[] = [];
  for (let index = 1; index <= count; index++) {
    const e = entry(index, 1 + Math.floor(index / 4));
    list.push(e);
    await wal.append({ entries: [e], commit: index - 1 });
  }
  await wal.close();
  const files = new Map<string, Uint8Array>();
  for (const name of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
    files.set(name, await Deno.readFile(`${dir}/${name}`));
  }
  return { files, entries: list, commit: count - 1 };
}

async function checkEveryFlip(
  dir: string,
  written: Written,
): Promise<{ flips: number; refused: number }> {
  let flips = 0;
  let refused = 0;
  for (const [name, original] of written.files) {
    const path = `${dir}/${name}`;
    for (let bit = 0; bit < original.length * 8 && flips < FLIPS_MAX; bit++) {
      const byte = bit >> 3;
      const flipped = original.slice();
      flipped[byte]! ^= 1 << (bit & 7);
      await Deno.writeFile(path, flipped);
      flips++;
      const where = `bit ${bit & 7} of byte ${byte} of "${name}"`;
      try {
        const { wal, recovery } = await Wal.open(dir, BASE);
        await wal.close();
        assertEquals(recovery.entries, written.entries, `${where}: entries`);
        assertEquals(recovery.commit, written.commit, `${where}: commit`);
        assertEquals(recovery.tornTail, null, `${where}: nothing cut`);
      } catch (err) {
        if (!(err instanceof StorageError)) throw err;
        assertEquals(err.code, "raft.storage.corrupt", `${where}: ${err}`);
        assert(err.message.includes(`"${name}"`), `${where}: ${err.message}`);
        const offset = Number(/offset (\d+)/.exec(err.message)?.[1]);
        assert(offset <= byte, `${where}: reported at offset ${offset}`);
        refused++;
      }
      // Put back the original (an open that cut a tail shortened the file).
      await Deno.writeFile(path, original);
    }
  }
  return { flips, refused };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-walflip-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Wal never loses an acknowledged record to a flipped bit in a one-segment log", async () => {
  await withDir(async (dir) => {
    const written = await writeAcknowledged(dir, 5, 64 * 1024 * 1024);
    assertEquals(written.files.size, 1);
    const { flips, refused } = await checkEveryFlip(dir, written);
    assert(flips > 1500, `${flips} flips`);
    // Checksums catch every single-bit error: none goes through unnoticed.
    assertEquals(refused, flips);
  });
});

Deno.test("Wal never loses an acknowledged record to a flipped bit in a log of several segments", async () => {
  await withDir(async (dir) => {
    const written = await writeAcknowledged(dir, 6, 100);
    assert(written.files.size >= 3, `${written.files.size} segments`);
    const { flips, refused } = await checkEveryFlip(dir, written);
    assertEquals(refused, flips);
  });
});
