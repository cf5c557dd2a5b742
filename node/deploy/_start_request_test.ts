import assert, {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import type { Alloc } from "../../raft/fsm/mod.ts";
import { service } from "../../raft/fsm/testing.ts";
import {
  encryptSecret,
  generateClusterKeyBytes,
  importClusterKey,
  MissingSecretsError,
} from "../secrets/mod.ts";
import { secretValuesOf, startRequestOf } from "./_start_request.ts";

const WEB = service("web", {
  env: { DB: "pg://u:${secret(db.pass)}@db", MODE: "prod" },
});

const ALLOC: Alloc = {
  id: "web-1",
  nodeId: "n1",
  workload: "web",
  kind: "service",
  image: WEB.image,
  cpuMillis: 100,
  memoryBytes: 1 << 26,
  hostPort: 20_001,
  deployId: "d1",
  replacesAllocId: null,
  status: "starting",
  statusMessage: "",
  exitCode: null,
  restarts: 0,
  address: null,
  ip: null,
  stopRequested: false,
  scheduledAtMs: 1,
  startedAtMs: null,
  updatedAtMs: 1,
};

Deno.test("secretValuesOf() decrypts on the leader what the workload references, and only that", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const stored = new Map([
    ["db.pass", await encryptSecret(key, "db.pass", "hunter2")],
    ["other", await encryptSecret(key, "other", "not for this node")],
  ]);
  const context = {
    encryptedSecret: (name: string) => stored.get(name),
    clusterKey: () => key,
  };
  const values = await secretValuesOf(WEB, context);
  assertEquals(values, { "db.pass": "hunter2" });
  const request = startRequestOf(ALLOC, WEB, values);
  assertEquals(request.env, WEB.env);
  assertEquals(request.secretValues, { "db.pass": "hunter2" });
  assert(!("secrets" in request));
  assertEquals(request.hostPort, 20_001);
});

Deno.test("secretValuesOf() refuses a secret deleted since the deploy's check", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  await assertRejects(
    () =>
      secretValuesOf(WEB, {
        encryptedSecret: () => undefined,
        clusterKey: () => key,
      }),
    (err: unknown) =>
      err instanceof MissingSecretsError && err.names.join() === "db.pass",
  );
});

Deno.test("startRequestOf() sends no value the env does not reference", () => {
  const request = startRequestOf(
    ALLOC,
    service("web", { env: { MODE: "prod" } }),
    {},
  );
  assertEquals(request.secretValues, {});
});
