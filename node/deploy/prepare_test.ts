import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  config,
  GIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import { placementsOf } from "../scheduler/mod.ts";
import { DeployError } from "./errors.ts";
import { prepareDeploy } from "./prepare.ts";

const nodes = stateFrom([registerNode(1), registerNode(2)]);

Deno.test("prepareDeploy() refuses what must not start and plans the rest", async (t) => {
  const cases = [
    {
      name: "a first deploy places every replica",
      state: nodes,
      config: config([service("web", { replicas: 2 }), service("api")]),
      code: null,
      placements: 3,
    },
    {
      name: "a missing secret is named and nothing is planned",
      state: nodes,
      config: config([
        service("api", { env: { DB: "${secret(db.url)}", X: "${secret(a)}" } }),
      ]),
      code: "secret.missing",
      message: /"a", "db\.url"/,
    },
    {
      name: "a replica that fits nowhere refuses the whole deploy",
      state: nodes,
      config: config([service("big", { cpu: 16 })]),
      code: "deploy.unplaced",
      message: /big: needs 16 cpu/,
    },
    {
      name: "persistent volumes are refused plainly",
      state: nodes,
      config: config([service("db", {
        volumes: [{ name: "d", path: "/d", sizeBytes: GIB, ephemeral: false }],
      })]),
      code: "deploy.volumes_unsupported",
    },
    {
      name: "a deploy while another runs is refused",
      state: stateFrom([{
        type: "Deploy",
        deployId: "d0",
        config: config([service("web")]),
        atMs: 2000,
      }], nodes),
      config: config([service("web")]),
      code: "deploy.in_progress",
      message: /"d0"/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const result = prepareDeploy(c.state, c.config, "d9");
      if (c.code === null) {
        assert(!(result instanceof DeployError), String(result));
        assertEquals(placementsOf(result.plan).length, c.placements);
        return;
      }
      assert(result instanceof DeployError);
      assertEquals(result.code, c.code);
      if (c.message !== undefined) {
        assert(c.message.test(result.message), result.message);
      }
    });
  }
});
