/**
 * The leader's volume steps against the real local driver (sparse files on
 * loop devices) and the real FSM: create and attach commit in order, a
 * volume the cloud already has under its deterministic name is found, not
 * made twice, and a failed deploy's volumes are destroyed with nothing left.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { LocalVolumeDriver } from "../../storage/local/local_driver.ts";
import { registerNode, stateFrom } from "../../raft/fsm/testing.ts";
import { FsmLog } from "./_fsm_log_testing.ts";
import { VolumeSteps } from "./volume_steps.ts";

async function withSteps(
  body: (
    steps: VolumeSteps,
    log: FsmLog,
    driver: LocalVolumeDriver,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-volume-steps-" });
  const driver = await LocalVolumeDriver.open({ dir });
  const log = new FsmLog(stateFrom([registerNode(1), registerNode(2)]));
  const steps = new VolumeSteps({
    driver,
    clusterId: "c0ffee00deadbeef",
    volume: (name) => log.state.volumes.get(name),
    commit: log.commit,
    machineIdOf: (nodeId) => nodeId,
    nodeName: (nodeId) => log.state.nodes.get(nodeId)?.name ?? nodeId,
    nowMs: () => 5_000,
    log: () => {},
  });
  try {
    await body(steps, log, driver);
  } finally {
    for (const volume of await driver.list()) {
      if (volume.attachedTo !== null) {
        await driver.detach(volume.id, volume.attachedTo);
      }
      await driver.destroy(volume.id);
    }
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("VolumeSteps: create then attach, committed in order; a loop device appears", async () => {
  await withSteps(async (steps, log, driver) => {
    const report = await steps.run({
      type: "createVolume",
      volume: "pgdata",
      sizeBytes: 32 * 2 ** 20,
      nodeId: "n1",
    });
    strictEqual(report.action, "created");
    strictEqual(
      report.message.endsWith("(32Mi), attached to node-1"),
      true,
      report.message,
    );
    deepStrictEqual(log.entries.map((c) => c.type), [
      "VolumeCreated",
      "VolumeAttached",
    ]);
    const volume = log.state.volumes.get("pgdata")!;
    strictEqual(volume.state, "attached");
    const device = steps.devicePath(volume);
    strictEqual(/^\/dev\/loop\d+$/.test(device), true, device);
    const [cloud] = await driver.list();
    strictEqual(cloud?.name, "mill-c0ffee00-pgdata");
  });
});

Deno.test("VolumeSteps: a volume the cloud has under its name is found, not made twice; discard destroys", async () => {
  await withSteps(async (steps, log, driver) => {
    // A leader made it and died before its VolumeCreated.
    await driver.create({
      name: steps.cloudName("pgdata"),
      sizeBytes: 32 * 2 ** 20,
      tags: steps.tags,
    });
    const report = await steps.run({
      type: "createVolume",
      volume: "pgdata",
      sizeBytes: 32 * 2 ** 20,
      nodeId: "n2",
    });
    strictEqual(report.message.startsWith("found "), true, report.message);
    strictEqual((await driver.list()).length, 1);
    await steps.discardCreated(["pgdata"]);
    strictEqual(log.state.volumes.has("pgdata"), false);
    deepStrictEqual(await driver.list(), []);
  });
});
