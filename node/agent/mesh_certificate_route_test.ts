import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { registerNode, stateFrom } from "../../raft/fsm/testing.ts";
import { ApiError } from "../api/mod.ts";
import { meshCertificateHosts } from "./mesh_certificate_route.ts";

const state = stateFrom([
  registerNode(1, { network: { clusterRange: "10.210.0.0/16" } }),
  registerNode(2, { network: {} }),
  registerNode(3),
]);

Deno.test("meshCertificateHosts(): a node's registered address and its mesh address, from the state only", () => {
  const n2 = state.nodes.get("n2")!;
  assertEquals(meshCertificateHosts(state, "n2"), [n2.address, "10.210.1.1"]);
  assertEquals(meshCertificateHosts(state, "n1"), [
    state.nodes.get("n1")!.address,
    "10.210.0.1",
  ]);
});

Deno.test("meshCertificateHosts(): an unknown node or one without a subnet gets no certificate", () => {
  const unknown = meshCertificateHosts(state, "n9");
  assertTrue(
    unknown instanceof ApiError && unknown.status === 404,
    String(unknown),
  );
  const hostNetwork = meshCertificateHosts(state, "n3");
  assertTrue(
    hostNetwork instanceof ApiError && hostNetwork.status === 409,
    String(hostNetwork),
  );
});
