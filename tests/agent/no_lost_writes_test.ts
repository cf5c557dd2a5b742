/**
 * Three agent processes under a write load lose no acknowledged write
 * (no_lost_writes_e2e.ts), in a network namespace of their own so that the
 * peer and API ports the agents take cannot collide with anything else
 * running on the machine.
 */
import { assertTrue } from "../../containerd/_assert_test.ts";
import { testInOwnNetwork } from "./netns.ts";

Deno.test("three agent processes lose no acknowledged write through kill -9, a flipped WAL bit and forged Raft messages (in their own network namespace)", async () => {
  const output = await testInOwnNetwork("tests/agent/no_lost_writes_e2e.ts");
  assertTrue(/ok \| 1 passed/.test(output), output);
});
