/**
 * `mill secret`'s defects end to end (secrets_cli_e2e.ts), in a network
 * namespace of its own so that the host ports its containers take cannot
 * collide with anything else running on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "./netns.ts";

Deno.test("mill secret: newlines, names, empty values and secrets in use (in its own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/agent/secrets_cli_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
