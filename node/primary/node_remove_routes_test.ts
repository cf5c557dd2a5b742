import { assertEquals } from "../../containerd/_assert_test.ts";
import { baseState, scheduled } from "../../raft/fsm/fixtures_testing.ts";
import { stateFrom } from "../../raft/fsm/testing.ts";
import type { ClusterState, Command } from "../../raft/mod.ts";
import { removalRefusal } from "./node_remove_routes.ts";

/** The refusal's code for removing `nodeId` after `commands`, or "ok". */
function refusal(
  nodeId: string,
  commands: readonly Command[] = [],
  selfId = "n1",
): string {
  const state: ClusterState = stateFrom(commands, baseState());
  const node = state.nodes.get(nodeId)!;
  return removalRefusal(state, node, selfId, 10_000)?.code ?? "ok";
}

const down = (nodeId: string): Command => ({
  type: "NodeDown",
  nodeId,
  reason: "missed heartbeats",
  atMs: 9_000,
});
const drain = (nodeId: string): Command => ({
  type: "NodeDrain",
  nodeId,
  atMs: 9_000,
});

Deno.test("removalRefusal(): only a down or drained idle node that does not lead", () => {
  assertEquals(refusal("n3"), "node.remove_ready");
  // A ready node with work: the seed's "node still has active allocations".
  assertEquals(
    refusal("n3", [scheduled("web-1", "n3")]),
    "node.active_allocs",
  );
  assertEquals(refusal("n3", [down("n3")]), "ok");
  assertEquals(refusal("n3", [drain("n3")]), "ok");
  assertEquals(
    refusal("n3", [scheduled("web-1", "n3"), drain("n3")]),
    "node.active_allocs",
  );
  // Going down fails its allocs: nothing is left running there.
  assertEquals(refusal("n3", [scheduled("web-1", "n3"), down("n3")]), "ok");
  // The fixture's n2 holds a volume.
  assertEquals(refusal("n2", [down("n2")]), "node.volumes_attached");
  assertEquals(refusal("n1", [down("n1")], "n1"), "node.remove_leader");
});
