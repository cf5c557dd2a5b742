import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { registerNode, stateFrom } from "../../raft/fsm/testing.ts";
import { meshInterfaceOf, meshPeersOf } from "./node_mesh.ts";

const key = (n: number) => btoa(String(n).repeat(32));

function meshed(n: number, extra: Parameters<typeof registerNode>[1] = {}) {
  return registerNode(n, {
    network: {
      ...(n === 1 ? { clusterRange: "10.210.0.0/16" } : {}),
      mesh: { publicKey: key(n), endpoint: `192.0.2.${n}:51820` },
    },
    ...extra,
  });
}

Deno.test("meshPeersOf(): every other node with a subnet and a key, carrying its whole subnet; a removed node is no peer", () => {
  const state = stateFrom([
    meshed(1),
    meshed(2),
    meshed(3),
    registerNode(4), // host networking: no subnet, no peer
  ]);
  deepStrictEqual(meshPeersOf(state, "n1"), [
    {
      publicKey: key(2),
      endpoint: "192.0.2.2:51820",
      allowedIps: ["10.210.1.0/24"],
    },
    {
      publicKey: key(3),
      endpoint: "192.0.2.3:51820",
      allowedIps: ["10.210.2.0/24"],
    },
  ]);
  const moved = stateFrom([
    meshed(2, {
      network: { mesh: { publicKey: key(2), endpoint: "198.51.100.2:51820" } },
      atMs: 2000,
    }),
    { type: "NodeDown", nodeId: "n3", reason: "test", atMs: 3000 },
    { type: "NodeRemove", nodeId: "n3", atMs: 4000 },
  ], state);
  deepStrictEqual(meshPeersOf(moved, "n1"), [
    {
      publicKey: key(2),
      endpoint: "198.51.100.2:51820",
      allowedIps: ["10.210.1.0/24"],
    },
  ]);
});

Deno.test("meshInterfaceOf(): mill-wg by default, one per netns prefix otherwise, within 15 characters", () => {
  strictEqual(meshInterfaceOf(undefined), "mill-wg");
  strictEqual(meshInterfaceOf("mill"), "mill-wg");
  strictEqual(meshInterfaceOf("mb1a2b3cn1"), "mb1a2b3cn1-wg");
  strictEqual(meshInterfaceOf("abcdefghijklmnopqrst").length <= 15, true);
});
