import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { apply } from "./apply.ts";
import type { Command } from "./command.ts";
import { baseConfig, baseState } from "./fixtures_testing.ts";
import { DEPLOYS_KEPT } from "./limits.ts";
import { EMPTY_CONFIG } from "./state.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import { runApplyTable } from "./table_testing.ts";
import { config, service, stateFrom } from "./testing.ts";

const finished: Command = {
  type: "DeployFinished",
  deployId: "d1",
  outcome: "succeeded",
  message: "deployed",
  atMs: 2500,
};
const next = config([service("web", { image: "registry.test/web:v2" })]);

Deno.test("apply() handles Deploy and DeployFinished", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a deploy while another runs is refused",
      command: { type: "Deploy", deployId: "d2", config: next, atMs: 3000 },
      expect: "deploy.in_progress",
    },
    {
      name: "a deploy makes its config current and records itself running",
      setup: [finished],
      command: { type: "Deploy", deployId: "d2", config: next, atMs: 3000 },
      expect: "ok",
      check: (state) => {
        strictEqual(state.config, next);
        strictEqual(state.deploys.at(-1)?.status, "running");
        strictEqual(state.deploys.at(-1)?.previousConfig, baseConfig);
      },
    },
    {
      name: "a deploy id used before is refused",
      setup: [finished],
      command: { type: "Deploy", deployId: "d1", config: next, atMs: 3000 },
      expect: "deploy.exists",
    },
    {
      name: "a config whose keys and names disagree is refused",
      setup: [finished],
      command: {
        type: "Deploy",
        deployId: "d2",
        config: { services: { web: service("api") }, tasks: {} },
        atMs: 3000,
      },
      expect: "command.invalid",
    },
    {
      name: "a config with negative cpu is refused",
      setup: [finished],
      command: {
        type: "Deploy",
        deployId: "d2",
        config: config([service("web", { cpu: -1 })]),
        atMs: 3000,
      },
      expect: "command.invalid",
    },
    {
      name: "a task filed under services is refused",
      setup: [finished],
      command: {
        type: "Deploy",
        deployId: "d2",
        config: {
          services: {},
          tasks: { web: { ...service("web"), kind: "service" } as never },
        },
        atMs: 3000,
      },
      expect: "command.invalid",
    },
    {
      name: "a finished deploy records its outcome and time",
      command: finished,
      expect: "ok",
      check: (state) => {
        const record = state.deploys.at(-1);
        strictEqual(record?.status, "succeeded");
        strictEqual(record?.finishedAtMs, 2500);
        strictEqual(record?.previousConfig, null);
        strictEqual(state.config, baseConfig);
      },
    },
    {
      name: "a rolled back deploy restores the config before it",
      setup: [finished, {
        type: "Deploy",
        deployId: "d2",
        config: next,
        atMs: 3000,
      }],
      command: {
        ...finished,
        deployId: "d2",
        outcome: "rolled_back",
        message: "web failed",
      },
      expect: "ok",
      check: (state) => {
        strictEqual(state.config, baseConfig);
        strictEqual(state.deploys.at(-1)?.status, "rolled_back");
      },
    },
    {
      name: "finishing a deploy twice is refused",
      setup: [finished],
      command: finished,
      expect: "deploy.not_running",
    },
    {
      name: "finishing an unknown deploy is refused",
      command: { ...finished, deployId: "d9" },
      expect: "deploy.unknown",
    },
  ]);
});

Deno.test("apply() keeps a bounded deploy history", () => {
  const commands: Command[] = [];
  for (let n = 0; n < DEPLOYS_KEPT + 10; n++) {
    commands.push({
      type: "Deploy",
      deployId: `d${n}`,
      config: EMPTY_CONFIG,
      atMs: n,
    });
    commands.push({ ...finished, deployId: `d${n}`, atMs: n });
  }
  const state = stateFrom(commands);
  strictEqual(state.deploys.length, DEPLOYS_KEPT);
  strictEqual(state.deploys.at(-1)?.id, `d${DEPLOYS_KEPT + 9}`);
});

const secret: Command = {
  type: "SecretSet",
  name: "db.url",
  ciphertext: "c2VjcmV0IGJ5dGVz",
  nonce: "AAAAAAAAAAAAAAAA",
  atMs: 100,
};

Deno.test("apply() handles SecretSet and SecretDelete", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a new secret is stored with its times",
      command: secret,
      expect: "ok",
      check: (state) => {
        deepStrictEqual(state.secrets.get("db.url"), {
          name: "db.url",
          ciphertext: "c2VjcmV0IGJ5dGVz",
          nonce: "AAAAAAAAAAAAAAAA",
          createdAtMs: 100,
          updatedAtMs: 100,
        });
      },
    },
    {
      name: "setting it again keeps its creation time",
      setup: [secret],
      command: { ...secret, ciphertext: "bmV3IGJ5dGVz", atMs: 200 },
      expect: "ok",
      check: (state) => {
        strictEqual(state.secrets.get("db.url")?.createdAtMs, 100);
        strictEqual(state.secrets.get("db.url")?.updatedAtMs, 200);
        strictEqual(state.secrets.get("db.url")?.ciphertext, "bmV3IGJ5dGVz");
      },
    },
    {
      name: "a ciphertext that is not base64 is refused",
      command: { ...secret, ciphertext: "not base64!" },
      expect: "command.invalid",
    },
    {
      name: "an empty nonce is refused",
      command: { ...secret, nonce: "" },
      expect: "command.invalid",
    },
    {
      name: "an empty name is refused",
      command: { ...secret, name: "" },
      expect: "command.invalid",
    },
    {
      name: "a secret is deleted",
      setup: [secret],
      command: { type: "SecretDelete", name: "db.url", atMs: 300 },
      expect: "ok",
      check: (state) => strictEqual(state.secrets.has("db.url"), false),
    },
    {
      name: "deleting an unknown secret is refused",
      command: { type: "SecretDelete", name: "db.url", atMs: 300 },
      expect: "secret.unknown",
    },
  ]);
});

Deno.test("apply() refuses an unknown command type instead of throwing", () => {
  const bogus = { type: "Explode", atMs: 1 } as unknown as Command;
  const applied = apply(baseState(), bogus);
  strictEqual(applied.ok, false);
  strictEqual(!applied.ok && applied.rejection.code, "command.unknown_type");
});

const HASH = "ab".repeat(32);

Deno.test("apply() handles TokenRotated: one hash per kind, the other kind untouched", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "the join token",
      command: {
        type: "TokenRotated",
        kind: "join",
        tokenSha256: HASH,
        atMs: 9,
      },
      expect: "ok",
      check: (state) =>
        deepStrictEqual(state.tokens, { admin: null, join: HASH }),
    },
    {
      name: "the admin token after the join token",
      setup: [{
        type: "TokenRotated",
        kind: "join",
        tokenSha256: HASH,
        atMs: 9,
      }],
      command: {
        type: "TokenRotated",
        kind: "admin",
        tokenSha256: "cd".repeat(32),
        atMs: 10,
      },
      expect: "ok",
      check: (state) =>
        deepStrictEqual(state.tokens, { admin: "cd".repeat(32), join: HASH }),
    },
    {
      name: "a hash that is not SHA-256 hex",
      command: {
        type: "TokenRotated",
        kind: "join",
        tokenSha256: "AB",
        atMs: 9,
      },
      expect: "command.invalid",
    },
    {
      name: "an unknown kind",
      command: {
        type: "TokenRotated",
        kind: "rpc" as "join",
        tokenSha256: HASH,
        atMs: 9,
      },
      expect: "command.invalid",
    },
  ]);
});

Deno.test("rotated tokens survive a snapshot, and a state without any keeps its old bytes", () => {
  const rotated = stateFrom([
    { type: "TokenRotated", kind: "admin", tokenSha256: HASH, atMs: 9 },
  ], baseState());
  deepStrictEqual(decodeSnapshot(encodeSnapshot(rotated)).tokens, {
    admin: HASH,
    join: null,
  });
  strictEqual(
    new TextDecoder().decode(encodeSnapshot(baseState())).includes('"tokens"'),
    false,
  );
});
