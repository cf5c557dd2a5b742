import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import { removeTempFiles, writeFileAtomic } from "./fs.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-atomic-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

async function modeOf(path: string): Promise<number> {
  return ((await Deno.stat(path)).mode ?? 0) & 0o777;
}

Deno.test("writeFileAtomic() writes the data with exactly the mode asked", async (t) => {
  await withDir(async (dir) => {
    for (const mode of [0o600, 0o644, 0o640, 0o666]) {
      await t.step(`mode ${mode.toString(8)}`, async () => {
        const path = `${dir}/f${mode.toString(8)}`;
        await writeFileAtomic(path, "hello", { mode });
        assertEquals(await Deno.readTextFile(path), "hello");
        assertEquals(await modeOf(path), mode);
      });
    }
    assertEquals(await names(dir), ["f600", "f640", "f644", "f666"]);
  });
});

Deno.test("writeFileAtomic() replaces a file whole and leaves no temp file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/data`;
    await writeFileAtomic(path, new Uint8Array(100_000).fill(1), {
      mode: 0o600,
    });
    await writeFileAtomic(path, "short", { mode: 0o600 });
    assertEquals(await Deno.readTextFile(path), "short");
    assertEquals(await names(dir), ["data"]);
  });
});

Deno.test("writeFileAtomic() replaces a world-readable file with one of the mode asked", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/key`;
    await Deno.writeTextFile(path, "old");
    await Deno.chmod(path, 0o666);
    await writeFileAtomic(path, "new", { mode: 0o600 });
    assertEquals(await Deno.readTextFile(path), "new");
    assertEquals(await modeOf(path), 0o600);
  });
});

Deno.test("writeFileAtomic() with createNew refuses an existing file and keeps it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/key`;
    await writeFileAtomic(path, "first", { mode: 0o600, createNew: true });
    assertEquals(await modeOf(path), 0o600);
    await assertRejects(
      () => writeFileAtomic(path, "second", { mode: 0o600, createNew: true }),
      Deno.errors.AlreadyExists,
    );
    assertEquals(await Deno.readTextFile(path), "first");
    assertEquals(await names(dir), ["key"]);
  });
});

Deno.test("writeFileAtomic() fails in a missing directory without leaving anything", async () => {
  await withDir(async (dir) => {
    await assertRejects(
      () => writeFileAtomic(`${dir}/missing/file`, "x", { mode: 0o600 }),
      Deno.errors.NotFound,
    );
    assertEquals(await names(dir), []);
  });
});

Deno.test("writeFileAtomic() removes its temp file when the rename fails", async () => {
  await withDir(async (dir) => {
    // A non-empty directory cannot be renamed over.
    await Deno.mkdir(`${dir}/target/inside`, { recursive: true });
    await assertRejects(() =>
      writeFileAtomic(`${dir}/target`, "x", { mode: 0o600 })
    );
    assertEquals(await names(dir), ["target"]);
  });
});

Deno.test("writeFileAtomic() refuses a mode beyond the permission bits", async () => {
  await withDir(async (dir) => {
    await assertRejects(
      () => writeFileAtomic(`${dir}/f`, "x", { mode: 0o4755 }),
      /bits beyond 0777/,
    );
    assertEquals(await names(dir), []);
  });
});

Deno.test("removeTempFiles() removes only the temp files of atomic writes", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/hardstate.0a1b2c3d4e5f.tmp`, "torn");
    await Deno.writeTextFile(`${dir}/hardstate`, "whole");
    await Deno.mkdir(`${dir}/wal.tmp`);
    assertEquals(await removeTempFiles(dir), ["hardstate.0a1b2c3d4e5f.tmp"]);
    assertEquals(await names(dir), ["hardstate", "wal.tmp"]);
  });
});
