/**
 * `mill up --clean` end to end (up_clean_e2e.ts), in a network namespace of
 * its own so that its ports cannot collide with anything else on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "./netns.ts";

Deno.test("mill up --clean removes a local cluster mill up left behind (in its own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/agent/up_clean_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
