import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects,
} from "node:assert/strict";
import type { Entry } from "../types.ts";
import { StorageError } from "./errors.ts";
import { segmentName, Wal, WAL_HEADER_BYTES } from "./wal.ts";

const BASE = { index: 0, term: 0 };

function entry(index: number, term = 1, text = `value-${index}`): Entry {
  return { index, term, kind: "command", data: new TextEncoder().encode(text) };
}

function entries(from: number, to: number, term = 1): Entry[] {
  const list: Entry[] = [];
  for (let i = from; i <= to; i++) list.push(entry(i, term));
  return list;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-wal-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeWal(
  dir: string,
  list: Entry[],
  options = {},
): Promise<string[]> {
  const { wal } = await Wal.open(dir, BASE, options);
  for (const e of list) await wal.append({ entries: [e] });
  const names = wal.segmentNames;
  await wal.close();
  return names;
}

function isCorrupt(err: unknown): boolean {
  return err instanceof StorageError && err.code === "raft.storage.corrupt";
}

Deno.test("Wal replays appended entries and the highest commit after a reopen", async () => {
  await withDir(async (dir) => {
    const { wal, recovery } = await Wal.open(dir, BASE);
    assertEquals(recovery.entries, []);
    await wal.append({ entries: entries(1, 3), commit: 2 });
    await wal.append({ entries: entries(4, 5), commit: 3 });
    await wal.close();
    const again = await Wal.open(dir, BASE);
    assertEquals(again.recovery.entries, entries(1, 5));
    assertEquals(again.recovery.commit, 3);
    assertEquals(again.recovery.tornTail, null);
    await again.wal.close();
  });
});

Deno.test("Wal group-commits concurrent appends into fewer fdatasyncs", async () => {
  await withDir(async (dir) => {
    const { wal } = await Wal.open(dir, BASE);
    await Promise.all(entries(1, 200).map((e) => wal.append({ entries: [e] })));
    assert(wal.syncs < 200, `expected batching, got ${wal.syncs} syncs`);
    assert(wal.syncs >= 1);
    await wal.close();
    const again = await Wal.open(dir, BASE);
    assertEquals(again.recovery.entries, entries(1, 200));
    await again.wal.close();
  });
});

Deno.test("Wal rolls segments and replays across them in order", async () => {
  await withDir(async (dir) => {
    const names = await writeWal(dir, entries(1, 50), { segmentBytesMax: 200 });
    assert(names.length > 3, `expected several segments, got ${names.length}`);
    const again = await Wal.open(dir, BASE, { segmentBytesMax: 200 });
    assertEquals(again.recovery.entries, entries(1, 50));
    await again.wal.close();
  });
});

Deno.test("Wal replaces a conflicting suffix when an entry rewrites an earlier index", async () => {
  await withDir(async (dir) => {
    const { wal } = await Wal.open(dir, BASE);
    await wal.append({ entries: entries(1, 10) });
    await wal.append({ entries: entries(6, 8, 2) });
    await wal.close();
    const again = await Wal.open(dir, BASE);
    assertEquals(again.recovery.entries, [
      ...entries(1, 5),
      ...entries(6, 8, 2),
    ]);
    await again.wal.append({ entries: [entry(9, 3)] });
    await again.wal.close();
    const third = await Wal.open(dir, BASE);
    assertEquals(third.recovery.entries, [
      ...entries(1, 5),
      ...entries(6, 8, 2),
      entry(9, 3),
    ]);
    await third.wal.close();
  });
});

Deno.test("Wal cuts a torn last record at every byte offset and keeps appending after it", async () => {
  await withDir(async (dir) => {
    const source = `${dir}/source`;
    await writeWal(source, entries(1, 5));
    const bytes = await Deno.readFile(`${source}/${segmentName(1)}`);
    const lastRecordBytes = WAL_HEADER_BYTES + 1 + 8 + 8 + 1 + 4 +
      "value-5".length;
    const lastStart = bytes.length - lastRecordBytes;
    for (let cut = lastStart; cut < bytes.length; cut++) {
      const copy = `${dir}/cut-${cut}`;
      await Deno.mkdir(copy);
      await Deno.writeFile(`${copy}/${segmentName(1)}`, bytes.subarray(0, cut));
      const { wal, recovery } = await Wal.open(copy, BASE);
      assertEquals(recovery.entries, entries(1, 4), `cut at ${cut}`);
      assertEquals(recovery.tornTail?.offset ?? lastStart, lastStart);
      assertEquals(
        (await Deno.stat(`${copy}/${segmentName(1)}`)).size,
        lastStart,
      );
      await wal.append({ entries: [entry(5, 2)] });
      await wal.close();
      const again = await Wal.open(copy, BASE);
      assertEquals(
        again.recovery.entries,
        [...entries(1, 4), entry(5, 2)],
        `reopen after cut at ${cut}`,
      );
      assertEquals(again.recovery.tornTail, null);
      await again.wal.close();
    }
  });
});

Deno.test("Wal treats a bad checksum in the last record and a zero-filled tail as torn", async (t) => {
  await withDir(async (dir) => {
    await writeWal(`${dir}/source`, entries(1, 3));
    const bytes = await Deno.readFile(`${dir}/source/${segmentName(1)}`);
    const cases: [string, Uint8Array][] = [
      [
        "last byte flipped",
        (() => {
          const b = bytes.slice();
          b[b.length - 1]! ^= 0xff;
          return b;
        })(),
      ],
      ["zeros appended", new Uint8Array([...bytes, ...new Uint8Array(4096)])],
    ];
    for (const [name, content] of cases) {
      await t.step(name, async () => {
        const copy = `${dir}/${name.replaceAll(" ", "-")}`;
        await Deno.mkdir(copy);
        await Deno.writeFile(`${copy}/${segmentName(1)}`, content);
        const { wal, recovery } = await Wal.open(copy, BASE);
        assert(recovery.tornTail !== null);
        assertEquals(
          recovery.entries,
          name === "zeros appended" ? entries(1, 3) : entries(1, 2),
        );
        await wal.close();
      });
    }
  });
});

Deno.test("Wal refuses a bad checksum in the middle, naming the file and offset", async () => {
  await withDir(async (dir) => {
    await writeWal(dir, entries(1, 5));
    const path = `${dir}/${segmentName(1)}`;
    const bytes = await Deno.readFile(path);
    const recordBytes = bytes.length / 5;
    const offset = 2 * recordBytes; // third record
    bytes[offset + WAL_HEADER_BYTES + 3]! ^= 0x01;
    await Deno.writeFile(path, bytes);
    const err = await Wal.open(dir, BASE).then(() => null, (e: unknown) => e);
    assert(isCorrupt(err), String(err));
    const message = (err as Error).message;
    assert(
      message.includes(segmentName(1)) && message.includes(`offset ${offset}`),
      message,
    );
    assertEquals(
      (await Deno.stat(path)).size,
      bytes.length,
      "a corrupt WAL is never truncated",
    );
  });
});

Deno.test("Wal refuses a bad length in the middle and a torn tail in a closed segment", async () => {
  await withDir(async (dir) => {
    await writeWal(`${dir}/a`, entries(1, 5));
    const path = `${dir}/a/${segmentName(1)}`;
    const bytes = await Deno.readFile(path);
    new DataView(bytes.buffer).setUint32(0, 0x7fffffff, true);
    await Deno.writeFile(path, bytes);
    await rejects(Wal.open(`${dir}/a`, BASE), isCorrupt);

    const names = await writeWal(`${dir}/b`, entries(1, 30), {
      segmentBytesMax: 200,
    });
    const first = `${dir}/b/${names[0]}`;
    const size = (await Deno.stat(first)).size;
    await Deno.truncate(first, size - 3);
    await rejects(
      Wal.open(`${dir}/b`, BASE, { segmentBytesMax: 200 }),
      isCorrupt,
    );
  });
});

Deno.test("Wal refuses a missing middle segment", async () => {
  await withDir(async (dir) => {
    const names = await writeWal(dir, entries(1, 30), { segmentBytesMax: 200 });
    assert(names.length >= 3);
    await Deno.remove(`${dir}/${names[1]}`);
    await rejects(Wal.open(dir, BASE), isCorrupt);
  });
});

Deno.test("Wal removes only closed segments wholly at or below a snapshot index", async () => {
  await withDir(async (dir) => {
    const { wal } = await Wal.open(dir, BASE, { segmentBytesMax: 200 });
    for (const e of entries(1, 40)) await wal.append({ entries: [e] });
    const before = wal.segmentNames;
    const removed = await wal.removeSegmentsThrough(20);
    assert(removed.length > 0);
    assertEquals(wal.segmentNames, before.slice(removed.length));
    await wal.append({ entries: [], snapshot: { index: 20, term: 1 } });
    await wal.close();
    for await (const f of Deno.readDir(dir)) {
      assert(!removed.includes(f.name), `${f.name} still on disk`);
    }
    const again = await Wal.open(dir, { index: 20, term: 1 });
    assertEquals(again.recovery.entries, entries(21, 40));
    await again.wal.close();
  });
});

Deno.test("Wal drops a conflicting log after a received snapshot and keeps what follows it", async () => {
  await withDir(async (dir) => {
    const { wal } = await Wal.open(dir, BASE);
    await wal.append({ entries: entries(1, 10, 1) });
    await wal.append({ entries: [], snapshot: { index: 8, term: 3 } });
    await wal.close();
    // Entry 8 had term 1, the snapshot term 3: entries 9-10 are not the leader's.
    const after = await Wal.open(dir, { index: 8, term: 3 });
    assertEquals(after.recovery.entries, []);
    await after.wal.append({ entries: entries(9, 11, 3) });
    await after.wal.close();
    const again = await Wal.open(dir, { index: 8, term: 3 });
    assertEquals(again.recovery.entries, entries(9, 11, 3));
    await again.wal.close();
  });
});

Deno.test("Wal writes a deferred commit with the next flush or at close, not on its own", async () => {
  await withDir(async (dir) => {
    const { wal } = await Wal.open(dir, BASE);
    await wal.append({ entries: entries(1, 3) });
    const syncs = wal.syncs;
    wal.appendDeferred({ entries: [], commit: 2 });
    assertEquals(wal.syncs, syncs);
    await wal.append({ entries: entries(4, 4) });
    wal.appendDeferred({ entries: [], commit: 4 });
    await wal.close();
    const again = await Wal.open(dir, BASE);
    assertEquals(again.recovery.entries, entries(1, 4));
    assertEquals(again.recovery.commit, 4);
    await again.wal.close();
  });
});
