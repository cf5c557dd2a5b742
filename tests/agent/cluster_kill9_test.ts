/**
 * Three agent processes killed with SIGKILL (cluster_kill9_e2e.ts), in a
 * network namespace of their own so that the peer and API ports the agents
 * take cannot collide with anything else running on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "./netns.ts";

Deno.test("three agent processes survive kill -9 of a secondary and of the leader mid-deploy (in their own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/agent/cluster_kill9_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
