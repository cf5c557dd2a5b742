import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import { ensureDir, writeFileAtomic } from "./atomic_file.ts";

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

Deno.test("writeFileAtomic() writes the data with exactly the mode asked", async (t) => {
  await withDir(async (dir) => {
    for (const mode of [0o600, 0o644, 0o640, 0o666]) {
      await t.step(`mode ${mode.toString(8)}`, async () => {
        const path = `${dir}/f${mode.toString(8)}`;
        await writeFileAtomic(path, "hello", { mode });
        assertEquals(await Deno.readTextFile(path), "hello");
        assertEquals(((await Deno.stat(path)).mode ?? 0) & 0o777, mode);
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

Deno.test("writeFileAtomic() with createNew refuses an existing file and keeps it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/key`;
    await writeFileAtomic(path, "first", { mode: 0o600, createNew: true });
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

Deno.test("ensureDir() creates nested directories and sets the mode", async () => {
  await withDir(async (dir) => {
    await ensureDir(`${dir}/a/b`, 0o700);
    assertEquals(((await Deno.stat(`${dir}/a/b`)).mode ?? 0) & 0o777, 0o700);
    await Deno.chmod(`${dir}/a/b`, 0o755);
    await ensureDir(`${dir}/a/b`, 0o700);
    assertEquals(((await Deno.stat(`${dir}/a/b`)).mode ?? 0) & 0o777, 0o700);
  });
});
