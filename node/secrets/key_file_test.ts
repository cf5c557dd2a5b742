import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import {
  decryptSecret,
  encryptSecret,
  generateClusterKeyBytes,
  importClusterKey,
} from "./crypto.ts";
import { SecretError } from "./errors.ts";
import { readClusterKeyFile } from "./key_file.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-key-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function isInvalidKey(err: unknown): boolean {
  return err instanceof SecretError && err.code === "secret.invalid_key";
}

Deno.test("readClusterKeyFile() reads a 0600 key that decrypts what the raw key encrypted", async () => {
  await withDir(async (dir) => {
    const raw = generateClusterKeyBytes();
    await Deno.writeFile(`${dir}/cluster.key`, raw, { mode: 0o600 });
    const sealed = await encryptSecret(
      await importClusterKey(raw),
      "a",
      "value",
    );
    const key = await readClusterKeyFile(`${dir}/cluster.key`);
    assertEquals(await decryptSecret(key, "a", sealed), "value");
  });
});

Deno.test("readClusterKeyFile() refuses unsafe, missing or wrong-sized keys", async (t) => {
  await withDir(async (dir) => {
    await t.step("a key readable by others", async () => {
      const path = `${dir}/open.key`;
      await Deno.writeFile(path, generateClusterKeyBytes());
      await Deno.chmod(path, 0o644);
      await assertRejects(() => readClusterKeyFile(path), isInvalidKey);
    });
    await t.step("a missing file", async () => {
      await assertRejects(
        () => readClusterKeyFile(`${dir}/none.key`),
        isInvalidKey,
      );
    });
    await t.step("a directory", async () => {
      await Deno.mkdir(`${dir}/d.key`, { mode: 0o700 });
      await assertRejects(
        () => readClusterKeyFile(`${dir}/d.key`),
        isInvalidKey,
      );
    });
    for (const length of [0, 31, 33, 100]) {
      await t.step(`a ${length}-byte file`, async () => {
        const path = `${dir}/k${length}.key`;
        await Deno.writeFile(path, new Uint8Array(length), { mode: 0o600 });
        await assertRejects(() => readClusterKeyFile(path), isInvalidKey);
      });
    }
  });
});
