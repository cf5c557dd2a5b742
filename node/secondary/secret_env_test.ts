import assert, {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { RpcError } from "../rpc/mod.ts";
import { ENV_EXEC_FILE, SecretEnvFiles } from "./secret_env.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-secret-env-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SecretEnvFiles.open() closes its directory and writes env-exec", async () => {
  await withDir(async (root) => {
    const dir = `${root}/secrets`;
    await Deno.mkdir(dir, { mode: 0o755 });
    await Deno.chmod(dir, 0o755);
    const files = new SecretEnvFiles(dir, "x86_64");
    await files.open();
    assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assertEquals(
      (await Deno.stat(`${dir}/${ENV_EXEC_FILE}`)).mode! & 0o777,
      0o511,
    );
    assertEquals(files.delivery("web-1", {}), undefined);
    assertEquals(files.delivery("web-1", { DB: "pg://u:pw@db" }), {
      values: { DB: "pg://u:pw@db" },
      execPath: `${dir}/${ENV_EXEC_FILE}`,
      filePath: `${dir}/web-1.env`,
    });
  });
});

Deno.test("SecretEnvFiles refuses secrets on a machine without env-exec, naming the machine", async () => {
  await withDir(async (dir) => {
    const files = new SecretEnvFiles(dir, "riscv64");
    await files.open();
    assertEquals(files.delivery("web-1", {}), undefined);
    assertThrows(
      () => files.delivery("web-1", { DB: "hunter2" }),
      (err: unknown) =>
        err instanceof RpcError &&
        err.code === "runtime.secret_env_unsupported" &&
        err.message.includes('"riscv64"') && !err.message.includes("hunter2"),
    );
  });
});

Deno.test("SecretEnvFiles.sweep() removes the env files of containers no longer kept", async () => {
  await withDir(async (dir) => {
    const files = new SecretEnvFiles(dir, "x86_64");
    await files.open();
    for (const id of ["a", "b", "c"]) {
      await Deno.writeTextFile(`${dir}/${id}.env`, "X=1\0", { mode: 0o400 });
    }
    const removed: string[] = [];
    await files.sweep(new Set(["b"]), (id) => removed.push(id));
    assertEquals(removed.sort(), ["a", "c"]);
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assertEquals(left.sort(), ["b.env", ENV_EXEC_FILE]);
    await files.remove("b");
    await files.remove("b"); // already gone: fine
    assert(
      !(await Array.fromAsync(Deno.readDir(dir))).some((e) =>
        e.name.endsWith(".env")
      ),
    );
  });
});
