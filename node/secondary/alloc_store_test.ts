import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { StartRequest } from "../rpc/mod.ts";
import { AllocStore } from "./alloc_store.ts";

const REQUEST: StartRequest = {
  allocId: "web-1",
  name: "web",
  kind: "service",
  image: "registry.test/web:v1",
  env: { DB: "pg://u:${secret(db.pass)}@db" },
  secretValues: { "db.pass": "hunter2" },
  cpu: 0.5,
  memoryBytes: 1 << 26,
  labels: {},
  stopSignal: "SIGTERM",
  stopGracePeriodMs: 1_000,
};

Deno.test("AllocStore keeps start requests, secret values included, for root alone", async () => {
  const root = await Deno.makeTempDir({ prefix: "mill-allocs-" });
  try {
    const dir = `${root}/allocs`;
    await Deno.mkdir(dir, { mode: 0o755 });
    await Deno.chmod(dir, 0o755);
    const store = new AllocStore(dir);
    await store.open();
    await store.save(REQUEST);
    assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
    for await (const entry of Deno.readDir(dir)) {
      assertEquals(
        (await Deno.stat(`${dir}/${entry.name}`)).mode! & 0o777,
        0o600,
      );
    }
    assertEquals(await store.list(), [REQUEST]);
    await store.remove("web-1");
    assertEquals(await store.list(), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("AllocStore reads a request kept with encrypted secrets as one without values", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-allocs-" });
  try {
    const { secretValues: _values, ...rest } = REQUEST;
    await Deno.writeTextFile(
      `${dir}/web-1.json`,
      JSON.stringify({
        ...rest,
        secrets: { "db.pass": { ciphertext: "AAAA", nonce: "BBBB" } },
      }),
    );
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    const bad: string[] = [];
    const kept = await new AllocStore(dir).list((name) => bad.push(name));
    assertEquals(kept, [{ ...rest, secretValues: {} }]);
    assertEquals(bad, ["bad.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
