/**
 * Rolling updates on a full node end to end (rolling_e2e.ts), in a network
 * namespace of its own so the host ports its containers take collide with
 * nothing else on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "../agent/netns.ts";

Deno.test("rolling updates without room for twice a service (in their own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/deploy/rolling_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
