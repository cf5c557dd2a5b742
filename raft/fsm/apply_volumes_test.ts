import { strictEqual } from "node:assert/strict";
import type { Command } from "./command.ts";
import { baseConfig, baseState, scheduled } from "./fixtures_testing.ts";
import { runApplyTable } from "./table_testing.ts";
import { config, service } from "./testing.ts";

const withoutPostgres = config(
  Object.values(baseConfig.services).filter((s) => s.name !== "postgres"),
  Object.values(baseConfig.tasks),
);

/** Deploys a config without postgres and finishes it: pgdata is no longer referenced. */
const unreferenced: Command[] = [
  {
    type: "DeployFinished",
    deployId: "d1",
    outcome: "succeeded",
    message: "",
    atMs: 2500,
  },
  { type: "Deploy", deployId: "d2", config: withoutPostgres, atMs: 2600 },
  {
    type: "DeployFinished",
    deployId: "d2",
    outcome: "succeeded",
    message: "",
    atMs: 2700,
  },
];
const detach: Command = { type: "VolumeDetached", name: "pgdata", atMs: 3000 };

Deno.test("apply() handles VolumeCreated and VolumeAttached", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a created volume starts detached, remembering its node",
      command: {
        type: "VolumeCreated",
        name: "cache",
        cloudId: "vol-2",
        nodeId: "n1",
        atMs: 1,
      },
      expect: "ok",
      check: (state) => {
        strictEqual(state.volumes.get("cache")?.state, "detached");
        strictEqual(state.volumes.get("cache")?.nodeId, null);
        strictEqual(state.volumes.get("cache")?.lastNodeId, "n1");
      },
    },
    {
      name: "a volume name in use is refused",
      command: {
        type: "VolumeCreated",
        name: "pgdata",
        cloudId: "vol-9",
        atMs: 1,
      },
      expect: "volume.exists",
    },
    {
      name: "a volume created for an unknown node is refused",
      command: {
        type: "VolumeCreated",
        name: "cache",
        cloudId: "vol-2",
        nodeId: "n9",
        atMs: 1,
      },
      expect: "node.unknown",
    },
    {
      name: "a second attachment is refused: one node at a time",
      command: {
        type: "VolumeAttached",
        name: "pgdata",
        nodeId: "n3",
        atMs: 1,
      },
      expect: "volume.attached",
    },
    {
      name: "a detached volume attaches to a ready node",
      setup: [detach],
      command: {
        type: "VolumeAttached",
        name: "pgdata",
        nodeId: "n3",
        atMs: 4000,
      },
      expect: "ok",
      check: (state) => {
        strictEqual(state.volumes.get("pgdata")?.nodeId, "n3");
        strictEqual(state.volumes.get("pgdata")?.state, "attached");
      },
    },
    {
      name: "attaching to a down node is refused",
      setup: [detach, { type: "NodeDown", nodeId: "n3", reason: "", atMs: 1 }],
      command: {
        type: "VolumeAttached",
        name: "pgdata",
        nodeId: "n3",
        atMs: 4000,
      },
      expect: "node.down",
    },
    {
      name: "attaching to a draining node is refused",
      setup: [detach, { type: "NodeDrain", nodeId: "n3", atMs: 1 }],
      command: {
        type: "VolumeAttached",
        name: "pgdata",
        nodeId: "n3",
        atMs: 4000,
      },
      expect: "node.draining",
    },
    {
      name: "attaching an unknown volume is refused",
      command: {
        type: "VolumeAttached",
        name: "nope",
        nodeId: "n3",
        atMs: 4000,
      },
      expect: "volume.unknown",
    },
  ]);
});

Deno.test("apply() handles VolumeDetached, VolumeReady and VolumeDestroyed", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "an attached volume with no live user detaches",
      command: detach,
      expect: "ok",
      check: (state) => {
        strictEqual(state.volumes.get("pgdata")?.state, "detached");
        strictEqual(state.volumes.get("pgdata")?.lastNodeId, "n2");
      },
    },
    {
      name: "detaching a volume a live alloc mounts is refused",
      setup: [scheduled("postgres-1", "n2", "postgres")],
      command: detach,
      expect: "volume.in_use",
    },
    {
      name:
        "detaching after its node went down is accepted (its allocs failed)",
      setup: [
        scheduled("postgres-1", "n2", "postgres"),
        { type: "NodeDown", nodeId: "n2", reason: "", atMs: 2 },
      ],
      command: detach,
      expect: "ok",
    },
    {
      name: "detaching a detached volume is refused",
      setup: [detach],
      command: detach,
      expect: "volume.not_attached",
    },
    {
      name: "a detached volume is marked ready for re-attachment",
      setup: [detach],
      command: { type: "VolumeReady", name: "pgdata", atMs: 5 },
      expect: "ok",
      check: (state) =>
        strictEqual(state.volumes.get("pgdata")?.state, "ready"),
    },
    {
      name: "an attached volume cannot be marked ready",
      command: { type: "VolumeReady", name: "pgdata", atMs: 5 },
      expect: "volume.not_detached",
    },
    {
      name: "a ready volume attaches on the replacement node",
      setup: [detach, { type: "VolumeReady", name: "pgdata", atMs: 5 }],
      command: {
        type: "VolumeAttached",
        name: "pgdata",
        nodeId: "n3",
        atMs: 6,
      },
      expect: "ok",
    },
    {
      name: "destroying a volume a service references is refused",
      setup: [detach],
      command: { type: "VolumeDestroyed", name: "pgdata", atMs: 6 },
      expect: "volume.in_use",
      message: 'service "postgres" still mounts it',
    },
    {
      name:
        "destroying a volume the config before a running deploy references is refused",
      setup: [
        {
          type: "DeployFinished",
          deployId: "d1",
          outcome: "succeeded",
          message: "",
          atMs: 2500,
        },
        detach,
        { type: "Deploy", deployId: "d2", config: withoutPostgres, atMs: 2600 },
      ],
      command: { type: "VolumeDestroyed", name: "pgdata", atMs: 6 },
      expect: "volume.in_use",
    },
    {
      name: "destroying an attached volume is refused",
      setup: unreferenced,
      command: { type: "VolumeDestroyed", name: "pgdata", atMs: 6 },
      expect: "volume.not_detached",
    },
    {
      name: "an unreferenced detached volume is destroyed",
      setup: [...unreferenced, detach],
      command: { type: "VolumeDestroyed", name: "pgdata", atMs: 6 },
      expect: "ok",
      check: (state) => strictEqual(state.volumes.has("pgdata"), false),
    },
    {
      name: "an ephemeral volume of the same name does not hold it",
      setup: [
        {
          type: "DeployFinished",
          deployId: "d1",
          outcome: "succeeded",
          message: "",
          atMs: 2500,
        },
        {
          type: "Deploy",
          deployId: "d2",
          config: config([
            service("cache", {
              volumes: [{ name: "pgdata", path: "/tmp", ephemeral: true }],
            }),
          ]),
          atMs: 2600,
        },
        {
          type: "DeployFinished",
          deployId: "d2",
          outcome: "succeeded",
          message: "",
          atMs: 2700,
        },
        detach,
      ],
      command: { type: "VolumeDestroyed", name: "pgdata", atMs: 6 },
      expect: "ok",
    },
    {
      name: "destroying an unknown volume is refused",
      command: { type: "VolumeDestroyed", name: "nope", atMs: 6 },
      expect: "volume.unknown",
    },
  ]);
});
