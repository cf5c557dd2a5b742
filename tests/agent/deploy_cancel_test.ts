/**
 * Cancelling a deploy from the CLI (deploy_cancel_e2e.ts), in a network
 * namespace of its own so that the host ports its containers take cannot
 * collide with anything else running on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "./netns.ts";

Deno.test("mill deploy --cancel and Ctrl-C on an attached deploy (in its own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/agent/deploy_cancel_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
