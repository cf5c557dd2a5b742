import {
  assertEquals,
  assertRejects,
  assertTrue,
} from "../../containerd/_assert_test.ts";
import { DataDirLock, DataDirLockError, LOCK_FILE } from "./data_dir_lock.ts";

Deno.test("a data dir is held by one lock at a time, and free again once released", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-lock-" });
  try {
    const first = new DataDirLock(dir);
    await first.start();
    assertEquals(
      (await Deno.readTextFile(`${dir}/${LOCK_FILE}`)).trim(),
      `${Deno.pid}`,
    );
    assertEquals((await Deno.stat(`${dir}/${LOCK_FILE}`)).mode! & 0o777, 0o600);
    const error = await assertRejects(
      () => new DataDirLock(dir).start(),
      DataDirLockError,
    );
    assertTrue(error.message.includes(`pid ${Deno.pid}`), error.message);
    await first.stop();
    const again = new DataDirLock(dir);
    await again.start();
    await again.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a data dir locked by another process is refused, and free once that process dies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-lock-" });
  // A real second process holds the lock the way an agent does (flock).
  const holder = new Deno.Command("flock", {
    args: [
      "--no-fork",
      "-x",
      `${dir}/${LOCK_FILE}`,
      "sh",
      "-c",
      "echo held; exec sleep 60",
    ],
    stdout: "piped",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    assertEquals(new TextDecoder().decode(value).trim(), "held");
    await assertRejects(() => new DataDirLock(dir).start(), DataDirLockError);
    reader.releaseLock();
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel();
    const lock = new DataDirLock(dir);
    await lock.start();
    await lock.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
