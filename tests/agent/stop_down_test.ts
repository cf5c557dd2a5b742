/**
 * `mill stop` and `mill down` end to end (stop_down_e2e.ts), in a network
 * namespace of its own so that the host ports its containers take cannot
 * collide with anything else running on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "./netns.ts";

Deno.test("mill stop and mill down take an app down (in its own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/agent/stop_down_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
