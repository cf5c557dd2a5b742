import assert, {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { ContainerdError } from "../../containerd/mod.ts";
import { RpcError, type StartRequest } from "../rpc/mod.ts";
import { redactFor, resolveEnvOf } from "./_runtime_support.ts";

const REQUEST: StartRequest = {
  allocId: "web-1",
  name: "web",
  kind: "service",
  image: "registry.test/web:v1",
  env: { DB: "pg://u:${secret(db.pass)}@db", MODE: "prod" },
  secretValues: { "db.pass": "hunter2-secret" },
  cpu: 0.5,
  memoryBytes: 1 << 26,
  hostPort: 20_001,
  labels: {},
  stopSignal: "SIGTERM",
  stopGracePeriodMs: 1_000,
};

Deno.test("resolveEnvOf() keeps secret variables out of the plain env and sets PORT", () => {
  assertEquals(resolveEnvOf(REQUEST), {
    plain: { MODE: "prod", PORT: "20001" },
    secret: { DB: "pg://u:hunter2-secret@db" },
  });
  assertEquals(
    resolveEnvOf({
      ...REQUEST,
      env: { PORT: "${secret(db.pass)}" },
    }),
    { plain: {}, secret: { PORT: "hunter2-secret" } },
  );
});

Deno.test("resolveEnvOf() sets PORT to the declared port for an alloc with its own address", () => {
  assertEquals(
    resolveEnvOf({
      ...REQUEST,
      env: {},
      ip: "10.210.3.2",
      containerPort: 80,
    }).plain,
    { PORT: "80" },
  );
  assertEquals(
    resolveEnvOf({ ...REQUEST, env: {}, ip: "10.210.3.2" }).plain,
    {},
    "no declared port, no PORT",
  );
});

Deno.test("resolveEnvOf() refuses a reference the leader sent no value for", () => {
  assertThrows(
    () => resolveEnvOf({ ...REQUEST, secretValues: {} }),
    (err: unknown) =>
      err instanceof RpcError && err.code === "secret.missing" &&
      err.message.includes('"db.pass"'),
  );
});

Deno.test("redactFor() hides the alloc's secret values in errors and their causes", async (t) => {
  await t.step(
    "a message holding a value keeps its code, loses the value",
    () => {
      const error = redactFor(
        REQUEST,
        new ContainerdError(
          "container.start_failed",
          "runc: exec: pg://u:hunter2-secret@db: no such file",
        ),
      );
      assert(error instanceof RpcError);
      assertEquals(error.code, "container.start_failed");
      assertEquals(
        error.message,
        "runc: exec: pg://u:[redacted]@db: no such file",
      );
      assertEquals(error.cause, undefined);
    },
  );
  await t.step("a value in a cause only drops the cause", () => {
    const error = redactFor(
      REQUEST,
      new RpcError("runtime.start_failed", "Cannot start", {
        cause: new Error("env hunter2-secret"),
      }),
    );
    assert(error instanceof RpcError);
    assertEquals([error.message, error.cause], ["Cannot start", undefined]);
  });
  await t.step("an error without values is returned as it is", () => {
    const original = new RpcError("image.not_found", "No image");
    assertEquals(redactFor(REQUEST, original), original);
  });
});
