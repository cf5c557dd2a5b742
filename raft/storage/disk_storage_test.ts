import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects,
} from "node:assert/strict";
import type { Entry, Snapshot } from "../types.ts";
import {
  DiskStorage,
  reconcileHardState,
  recoveryNotes,
} from "./disk_storage.ts";
import { StorageError } from "./errors.ts";
import { HARD_STATE_FILE } from "./hard_state.ts";
import { encodeSnapshotFile, snapshotName } from "./snapshot_store.ts";
import { segmentName } from "./wal.ts";

const MEMBERSHIP = { voters: ["a", "b", "c"], learners: [] };

function entries(from: number, to: number, term = 1): Entry[] {
  const list: Entry[] = [];
  for (let i = from; i <= to; i++) {
    list.push({
      index: i,
      term,
      kind: "command",
      data: new TextEncoder().encode(`v${i}`),
    });
  }
  return list;
}

function snapshot(
  index: number,
  term: number,
  text = `state@${index}`,
): Snapshot {
  return {
    meta: { index, term, membership: MEMBERSHIP },
    data: new TextEncoder().encode(text),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-disk-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function reopen(dir: string) {
  const opened = await DiskStorage.open(dir, { segmentBytesMax: 256 });
  await opened.storage.close();
  return opened.state;
}

function isCorrupt(err: unknown): boolean {
  return err instanceof StorageError && err.code === "raft.storage.corrupt";
}

Deno.test("DiskStorage starts empty and recovers hard state, entries and commit", async () => {
  await withDir(async (dir) => {
    const { storage, state } = await DiskStorage.open(dir);
    assertEquals(state.hardState, { term: 0, vote: null, commit: 0 });
    assertEquals(state.snapshot, null);
    await storage.persist({
      hardState: { term: 2, vote: "b", commit: 0 },
      entries: entries(1, 4, 2),
    });
    await storage.persist({
      hardState: { term: 2, vote: "b", commit: 3 },
      entries: [],
    });
    await storage.close();
    const again = await reopen(dir);
    assertEquals(again.hardState, { term: 2, vote: "b", commit: 3 });
    assertEquals(again.entries, entries(1, 4, 2));
  });
});

Deno.test("DiskStorage compaction keeps the log after the snapshot and deletes what it covers", async () => {
  await withDir(async (dir) => {
    const { storage } = await DiskStorage.open(dir, { segmentBytesMax: 256 });
    for (let i = 1; i <= 60; i += 5) {
      await storage.persist({
        hardState: { term: 1, vote: "a", commit: i + 4 },
        entries: entries(i, i + 4),
      });
    }
    const segmentsBefore = storage.walSegments.length;
    await storage.saveSnapshot(snapshot(20, 1));
    await storage.saveSnapshot(snapshot(40, 1));
    assert(storage.walSegments.length < segmentsBefore);
    await storage.close();
    const snaps = [...Deno.readDirSync(`${dir}/snap`)].map((e) => e.name);
    assertEquals(snaps, [snapshotName(40, 1)]);
    const again = await reopen(dir);
    assertEquals(again.snapshot, snapshot(40, 1));
    assertEquals(again.entries, entries(41, 60));
    assertEquals(again.hardState.commit, 60);
  });
});

Deno.test("DiskStorage installs a received snapshot over a conflicting log", async () => {
  await withDir(async (dir) => {
    const { storage } = await DiskStorage.open(dir);
    await storage.persist({
      hardState: { term: 1, vote: null, commit: 2 },
      entries: entries(1, 6),
    });
    await storage.persist({
      hardState: { term: 3, vote: null, commit: 10 },
      entries: [],
      snapshot: snapshot(10, 3),
    });
    await storage.persist({ entries: entries(11, 12, 3) });
    await storage.close();
    const again = await reopen(dir);
    assertEquals(again.snapshot, snapshot(10, 3));
    assertEquals(again.entries, entries(11, 12, 3));
    assertEquals(again.hardState, { term: 3, vote: null, commit: 10 });
  });
});

Deno.test("DiskStorage survives a crash between the steps of an atomic write", async (t) => {
  await t.step(
    "a stray hard state temp file is ignored and removed",
    async () => {
      await withDir(async (dir) => {
        const { storage } = await DiskStorage.open(dir);
        await storage.persist({
          hardState: { term: 4, vote: "c", commit: 0 },
          entries: [],
        });
        await storage.close();
        await Deno.writeFile(
          `${dir}/${HARD_STATE_FILE}.tmp`,
          new Uint8Array([1, 2, 3]),
        );
        const again = await reopen(dir);
        assertEquals(again.hardState, { term: 4, vote: "c", commit: 0 });
        assertEquals(again.removedTempFiles, [`${HARD_STATE_FILE}.tmp`]);
      });
    },
  );
  await t.step(
    "a half-written snapshot temp file leaves the previous snapshot in force",
    async () => {
      await withDir(async (dir) => {
        const { storage } = await DiskStorage.open(dir);
        await storage.persist({ entries: entries(1, 10) });
        await storage.saveSnapshot(snapshot(5, 1));
        await storage.close();
        await Deno.writeFile(
          `${dir}/snap/${snapshotName(9, 1)}.tmp`,
          new Uint8Array(10),
        );
        const again = await reopen(dir);
        assertEquals(again.snapshot, snapshot(5, 1));
        assertEquals(again.entries, entries(6, 10));
      });
    },
  );
  await t.step(
    "a snapshot renamed into place before its WAL record still wins",
    async () => {
      await withDir(async (dir) => {
        const { storage } = await DiskStorage.open(dir);
        await storage.persist({ entries: entries(1, 10, 1) });
        await storage.close();
        // Crash after the received snapshot's rename, before the WAL record:
        // the old entries after index 8 (term 1) conflict with term 3.
        const file = await Deno.open(`${dir}/snap/${snapshotName(8, 3)}`, {
          write: true,
          create: true,
        });
        await file.write(encodeSnapshotFile(snapshot(8, 3)));
        file.close();
        const again = await reopen(dir);
        assertEquals(again.snapshot, snapshot(8, 3));
        assertEquals(again.entries, []);
        assertEquals(again.hardState.commit, 8);
      });
    },
  );
  await t.step(
    "segments left behind by a crash before compaction are replayed harmlessly",
    async () => {
      await withDir(async (dir) => {
        const { storage } = await DiskStorage.open(dir, {
          segmentBytesMax: 256,
        });
        await storage.persist({ entries: entries(1, 40) });
        await storage.close();
        await Deno.mkdir(`${dir}/copy`);
        const walBefore = [...Deno.readDirSync(`${dir}/wal`)].map((e) =>
          e.name
        );
        for (const name of walBefore) {
          await Deno.copyFile(`${dir}/wal/${name}`, `${dir}/copy/${name}`);
        }
        const opened = await DiskStorage.open(dir, { segmentBytesMax: 256 });
        await opened.storage.saveSnapshot(snapshot(30, 1));
        await opened.storage.close();
        for (const name of walBefore) {
          await Deno.copyFile(`${dir}/copy/${name}`, `${dir}/wal/${name}`);
        }
        await Deno.remove(`${dir}/copy`, { recursive: true });
        const again = await reopen(dir);
        assertEquals(again.snapshot, snapshot(30, 1));
        assertEquals(again.entries, entries(31, 40));
      });
    },
  );
});

Deno.test("DiskStorage refuses a corrupt hard state file and a corrupt snapshot", async () => {
  await withDir(async (dir) => {
    const { storage } = await DiskStorage.open(dir);
    await storage.persist({
      hardState: { term: 1, vote: "a", commit: 0 },
      entries: entries(1, 3),
    });
    await storage.saveSnapshot(snapshot(2, 1));
    await storage.close();
    const hardPath = `${dir}/${HARD_STATE_FILE}`;
    const hard = await Deno.readFile(hardPath);
    hard[hard.length - 1]! ^= 1;
    await Deno.writeFile(hardPath, hard);
    await rejects(
      DiskStorage.open(dir),
      (err: unknown) => isCorrupt(err) && String(err).includes(HARD_STATE_FILE),
    );
    hard[hard.length - 1]! ^= 1;
    await Deno.writeFile(hardPath, hard);
    const snapPath = `${dir}/snap/${snapshotName(2, 1)}`;
    const snap = await Deno.readFile(snapPath);
    snap[snap.length - 2]! ^= 1;
    await Deno.writeFile(snapPath, snap);
    await rejects(
      DiskStorage.open(dir),
      (err: unknown) =>
        isCorrupt(err) && String(err).includes(snapshotName(2, 1)),
    );
  });
});

Deno.test("DiskStorage refuses a persist it cannot encode and leaves every file as it was", async () => {
  await withDir(async (dir) => {
    const { storage } = await DiskStorage.open(dir);
    await storage.persist({
      hardState: { term: 2, vote: "a", commit: 1 },
      entries: entries(1, 2, 2),
    });
    const hardBefore = await Deno.readFile(`${dir}/${HARD_STATE_FILE}`);
    const walPath = `${dir}/wal/${segmentName(1)}`;
    const walBefore = await Deno.readFile(walPath);
    // A forged term past 2^53: neither the hard state nor the WAL is touched.
    await rejects(
      storage.persist({
        hardState: { term: 2 ** 53, vote: null, commit: 1 },
        entries: entries(3, 3, 2 ** 53),
      }),
      (err: unknown) =>
        err instanceof StorageError &&
        err.code === "raft.storage.invalid_record",
    );
    await rejects(
      storage.persist({
        hardState: { term: 2, vote: "a", commit: 2 ** 53 },
        entries: [],
      }),
      (err: unknown) =>
        err instanceof StorageError &&
        err.code === "raft.storage.invalid_record",
    );
    assertEquals(await Deno.readFile(`${dir}/${HARD_STATE_FILE}`), hardBefore);
    assertEquals(await Deno.readFile(walPath), walBefore);
    await storage.persist({ entries: entries(3, 3, 2) });
    await storage.close();
    const again = await reopen(dir);
    assertEquals(again.hardState, { term: 2, vote: "a", commit: 1 });
    assertEquals(again.entries, entries(1, 3, 2));
  });
});

Deno.test("DiskStorage reports a cut torn tail with file, offset and bytes for the node's log", async () => {
  await withDir(async (dir) => {
    const { storage } = await DiskStorage.open(dir);
    await storage.persist({
      hardState: { term: 1, vote: "a", commit: 0 },
      entries: entries(1, 3),
    });
    await storage.close();
    const walPath = `${dir}/wal/${segmentName(1)}`;
    const size = (await Deno.stat(walPath)).size;
    await Deno.truncate(walPath, size - 5);
    const state = await reopen(dir);
    assertEquals(state.entries, entries(1, 2));
    const torn = state.tornTail!;
    assertEquals(torn.file, segmentName(1));
    assertEquals(torn.offset + torn.bytes, size - 5);
    const notes = recoveryNotes(dir, state);
    assertEquals(notes.length, 1);
    assertEquals(notes[0]!.level, "warn");
    for (
      const part of [
        `"${dir}/wal/${segmentName(1)}"`,
        `offset ${torn.offset}`,
        `${torn.bytes} bytes dropped`,
      ]
    ) {
      assert(notes[0]!.message.includes(part), notes[0]!.message);
    }
    assertEquals(recoveryNotes(dir, await reopen(dir)), []);
  });
});

Deno.test("DiskStorage raises a term left behind by a crash that kept the WAL write but not the hard state", async () => {
  await withDir(async (dir) => {
    const { storage } = await DiskStorage.open(dir);
    await storage.persist({
      hardState: { term: 1, vote: "a", commit: 0 },
      entries: entries(1, 2, 1),
    });
    // What a crash leaves when the WAL's fsync completed and the hard state
    // file's rename did not: entries of term 3 under a term-1 hard state.
    await storage.persist({ entries: entries(3, 4, 3) });
    await storage.close();
    const state = await reopen(dir);
    assertEquals(state.hardState, { term: 3, vote: null, commit: 0 });
    assertEquals(state.termRaised, { from: 1, to: 3 });
    assert(
      recoveryNotes(dir, state).some((note) =>
        note.message.includes("continuing at term 3 with no vote")
      ),
    );
  });
});

Deno.test("reconcileHardState() makes hard state and log agree after a torn persist", async (t) => {
  const snapshot = { index: 10, term: 2 };
  const cases: {
    name: string;
    stored: { term: number; vote: string | null; commit: number };
    log: { entries: Entry[]; commit: number };
    want: { term: number; vote: string | null; commit: number };
    raised: { from: number; to: number } | null;
  }[] = [
    {
      name: "consistent pair kept as is",
      stored: { term: 3, vote: "b", commit: 11 },
      log: { entries: entries(11, 12, 3), commit: 12 },
      want: { term: 3, vote: "b", commit: 12 },
      raised: null,
    },
    {
      name: "commit past the log (entries lost with the WAL write) is capped",
      stored: { term: 3, vote: "b", commit: 15 },
      log: { entries: entries(11, 12, 3), commit: 0 },
      want: { term: 3, vote: "b", commit: 12 },
      raised: null,
    },
    {
      name: "commit never below the snapshot",
      stored: { term: 3, vote: null, commit: 0 },
      log: { entries: [], commit: 0 },
      want: { term: 3, vote: null, commit: 10 },
      raised: null,
    },
    {
      name: "term behind the last entry is raised, vote dropped",
      stored: { term: 2, vote: "a", commit: 10 },
      log: { entries: entries(11, 12, 4), commit: 11 },
      want: { term: 4, vote: null, commit: 11 },
      raised: { from: 2, to: 4 },
    },
    {
      name: "term behind a received snapshot is raised",
      stored: { term: 1, vote: "a", commit: 0 },
      log: { entries: [], commit: 0 },
      want: { term: 2, vote: null, commit: 10 },
      raised: { from: 1, to: 2 },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = reconcileHardState(c.stored, snapshot, c.log);
      assertEquals(got.hardState, c.want);
      assertEquals(got.termRaised, c.raised);
    });
  }
});

Deno.test("DiskStorage keeps its files 0600 and its directories 0700", async () => {
  await withDir(async (dir) => {
    const raftDir = `${dir}/raft`;
    await Deno.mkdir(`${raftDir}/snap`, { recursive: true, mode: 0o755 });
    await Deno.chmod(raftDir, 0o755);
    await Deno.chmod(`${raftDir}/snap`, 0o755);
    const { storage } = await DiskStorage.open(raftDir, {
      segmentBytesMax: 256,
    });
    await storage.persist({
      hardState: { term: 1, vote: "a", commit: 0 },
      entries: entries(1, 20),
    });
    await storage.saveSnapshot(snapshot(5, 1));
    await storage.close();
    const modeOf = async (path: string) =>
      ((await Deno.stat(path)).mode ?? 0) & 0o777;
    for (const sub of ["", "/snap", "/wal"]) {
      assertEquals(await modeOf(`${raftDir}${sub}`), 0o700, `dir "${sub}"`);
    }
    const files = [
      HARD_STATE_FILE,
      ...[...Deno.readDirSync(`${raftDir}/snap`)].map((e) => `snap/${e.name}`),
      ...[...Deno.readDirSync(`${raftDir}/wal`)].map((e) => `wal/${e.name}`),
    ];
    assert(files.length >= 4, files.join(", "));
    for (const file of files) {
      assertEquals(await modeOf(`${raftDir}/${file}`), 0o600, file);
    }
  });
});
