import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ensureDir, exists } from "./fs.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-fs-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ensureDir() creates nested directories and sets the mode", async () => {
  await withDir(async (dir) => {
    await ensureDir(`${dir}/a/b`, 0o700);
    assertEquals(((await Deno.stat(`${dir}/a/b`)).mode ?? 0) & 0o777, 0o700);
    await Deno.chmod(`${dir}/a/b`, 0o755);
    await ensureDir(`${dir}/a/b`, 0o700);
    assertEquals(((await Deno.stat(`${dir}/a/b`)).mode ?? 0) & 0o777, 0o700);
  });
});

Deno.test("exists() tells a present path, a dangling link and a missing one apart", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.symlink(`${dir}/nowhere`, `${dir}/link`);
    assertEquals(await exists(`${dir}/file`), true);
    assertEquals(await exists(`${dir}/link`), true);
    assertEquals(await exists(`${dir}/missing`), false);
  });
});
