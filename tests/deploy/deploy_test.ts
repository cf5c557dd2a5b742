/**
 * The deploy pipeline end to end (deploy_e2e.ts) in a network namespace of
 * its own, so that the host ports its containers take cannot collide with
 * anything else running on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "../agent/netns.ts";

Deno.test("seed 002 deploys on a real one-node agent (in its own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/deploy/deploy_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
