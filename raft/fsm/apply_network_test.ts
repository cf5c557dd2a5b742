import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { NodeRegisterCommand } from "./command.ts";
import { baseCommands, scheduled } from "./fixtures_testing.ts";
import { runApplyTable } from "./table_testing.ts";
import { registerNode, stateFrom } from "./testing.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import { checkInvariants } from "./invariants.ts";

const KEY_4 = btoa("4".repeat(32));
const KEY_5 = btoa("5".repeat(32));

function networked(
  n: number,
  network: NodeRegisterCommand["network"] = {},
  overrides: Partial<NodeRegisterCommand> = {},
): NodeRegisterCommand {
  return registerNode(n, { network, ...overrides });
}

/** The base cluster, then two networked nodes on 10.210.0.0/16 (n4 fixes the range). */
function networkedState() {
  return stateFrom([
    ...baseCommands,
    networked(4, {
      clusterRange: "10.210.0.0/16",
      mesh: { publicKey: KEY_4, endpoint: "10.0.0.4:51820" },
    }),
    networked(5, { mesh: { publicKey: KEY_5, endpoint: "10.0.0.5:51820" } }),
  ]);
}

Deno.test("NodeRegister with a network: the range is fixed once, each node gets its own /24 for life", async (t) => {
  const state = networkedState();
  strictEqual(state.network?.clusterRange, "10.210.0.0/16");
  strictEqual(state.nodes.get("n4")?.subnet, "10.210.0.0/24");
  strictEqual(state.nodes.get("n5")?.subnet, "10.210.1.0/24");
  strictEqual(state.nodes.get("n1")?.subnet, null, "a host-network node");
  deepStrictEqual(state.nodes.get("n5")?.mesh, {
    publicKey: KEY_5,
    endpoint: "10.0.0.5:51820",
  });
  await runApplyTable(t, state, [
    {
      name: "a re-registration keeps the subnet and updates the endpoint",
      command: networked(4, {
        mesh: { publicKey: KEY_4, endpoint: "192.0.2.4:51820" },
      }, { atMs: 5000 }),
      expect: "ok",
      check: (after) => {
        strictEqual(after.nodes.get("n4")?.subnet, "10.210.0.0/24");
        strictEqual(after.nodes.get("n4")?.mesh?.endpoint, "192.0.2.4:51820");
      },
    },
    {
      name: "a node set up for another range is refused",
      command: networked(6, { clusterRange: "10.99.0.0/16" }),
      expect: "node.network_mismatch",
    },
    {
      name: "a node presenting another node's WireGuard key is refused",
      command: networked(6, {
        mesh: { publicKey: KEY_4, endpoint: "10.0.0.6:51820" },
      }),
      expect: "node.mesh_key_taken",
    },
    {
      name: "a malformed key, endpoint or range is invalid",
      command: networked(6, {
        mesh: { publicKey: "not-a-key", endpoint: "10.0.0.6:51820" },
      }),
      expect: "command.invalid",
    },
    {
      name: "an endpoint without a port is invalid",
      command: networked(6, {
        mesh: { publicKey: btoa("6".repeat(32)), endpoint: "10.0.0.6" },
      }),
      expect: "command.invalid",
    },
    {
      name: "a public range is invalid",
      command: networked(6, { clusterRange: "8.8.0.0/16" }),
      expect: "command.invalid",
    },
    {
      name: "a peer port through the mesh on the node's mesh address is kept",
      command: networked(5, {
        mesh: {
          publicKey: KEY_5,
          endpoint: "10.0.0.5:51820",
          peer: "10.210.1.1:7946",
        },
      }, { atMs: 5000 }),
      expect: "ok",
      check: (after) =>
        strictEqual(after.nodes.get("n5")?.mesh?.peer, "10.210.1.1:7946"),
    },
    {
      name: "a peer port through the mesh on another address is refused",
      command: networked(5, {
        mesh: {
          publicKey: KEY_5,
          endpoint: "10.0.0.5:51820",
          peer: "10.210.0.1:7946",
        },
      }, { atMs: 5000 }),
      expect: "node.mesh_peer_invalid",
    },
    {
      name: "a malformed peer port through the mesh is invalid",
      command: networked(5, {
        mesh: { publicKey: KEY_5, endpoint: "10.0.0.5:51820", peer: "x" },
      }, { atMs: 5000 }),
      expect: "command.invalid",
    },
    {
      name: "a removed node's subnet goes to the next node",
      setup: [{ type: "NodeRemove", nodeId: "n4", atMs: 5000 }],
      command: networked(6),
      expect: "ok",
      check: (after) =>
        strictEqual(after.nodes.get("n6")?.subnet, "10.210.0.0/24"),
    },
  ]);
});

Deno.test("NodeRegister: a full range is refused with what to do", () => {
  const state = stateFrom([
    networked(1, { clusterRange: "10.210.0.0/23" }),
    networked(2),
  ]);
  strictEqual(state.nodes.get("n2")?.subnet, "10.210.1.0/24");
  let refused = "";
  try {
    stateFrom([networked(3)], state);
  } catch (error) {
    refused = String(error);
  }
  strictEqual(refused.includes("node.subnets_exhausted"), true, refused);
  strictEqual(refused.includes("remove a node first"), true, refused);
});

Deno.test("AllocScheduled on a networked node needs a free address of its subnet", async (t) => {
  const state = networkedState();
  await runApplyTable(t, state, [
    {
      name:
        "an address of the subnet is taken, and given back when the alloc ends",
      command: scheduled("w1", "n4", "web", { ip: "10.210.0.2" }),
      expect: "ok",
      check: (after) => {
        strictEqual(after.allocs.get("w1")?.ip, "10.210.0.2");
        deepStrictEqual(after.nodes.get("n4")?.allocHosts, [2]);
        const ended = stateFrom([
          { type: "AllocStatus", allocId: "w1", status: "failed", atMs: 4000 },
        ], after);
        deepStrictEqual(ended.nodes.get("n4")?.allocHosts, []);
        deepStrictEqual(checkInvariants(ended), []);
      },
    },
    {
      name: "an address in use on the node is refused",
      setup: [scheduled("w1", "n4", "web", { ip: "10.210.0.2" })],
      command: scheduled("w2", "n4", "web", { ip: "10.210.0.2" }),
      expect: "alloc.address_in_use",
    },
    {
      name: "no address on a networked node is refused",
      command: scheduled("w1", "n4"),
      expect: "alloc.address_required",
    },
    {
      name: "another node's subnet is refused",
      command: scheduled("w1", "n4", "web", { ip: "10.210.1.2" }),
      expect: "alloc.address_invalid",
    },
    {
      name: "the gateway is refused",
      command: scheduled("w1", "n4", "web", { ip: "10.210.0.1" }),
      expect: "alloc.address_invalid",
    },
    {
      name: "the broadcast address is refused",
      command: scheduled("w1", "n4", "web", { ip: "10.210.0.255" }),
      expect: "alloc.address_invalid",
    },
    {
      name: "an address on a host-network node is refused",
      command: scheduled("w1", "n1", "web", { ip: "10.210.0.2" }),
      expect: "alloc.address_invalid",
    },
    {
      name: "a batch whose two placements take one address is refused whole",
      command: {
        type: "AllocsScheduled",
        placements: [
          {
            ...placementOf(scheduled("w1", "n4", "web", { ip: "10.210.0.3" })),
          },
          {
            ...placementOf(scheduled("w2", "n4", "web", { ip: "10.210.0.3" })),
          },
        ],
        atMs: 3000,
      },
      expect: "alloc.address_in_use",
    },
  ]);
});

function placementOf(command: ReturnType<typeof scheduled>) {
  const { type: _type, atMs: _atMs, deployId: _deployId, ...placement } =
    command;
  return placement;
}

Deno.test("a networked state round-trips through a snapshot; a host-network one keeps its old bytes", () => {
  const state = stateFrom([
    scheduled("w1", "n4", "web", { ip: "10.210.0.7" }),
    networked(5, {
      mesh: {
        publicKey: KEY_5,
        endpoint: "10.0.0.5:51820",
        peer: "10.210.1.1:7946",
      },
    }, { atMs: 5000 }),
  ], networkedState());
  const restored = decodeSnapshot(encodeSnapshot(state));
  strictEqual(restored.nodes.get("n5")?.mesh?.peer, "10.210.1.1:7946");
  strictEqual(restored.nodes.get("n4")?.mesh?.peer, undefined);
  strictEqual(restored.network?.clusterRange, "10.210.0.0/16");
  strictEqual(restored.allocs.get("w1")?.ip, "10.210.0.7");
  deepStrictEqual(restored.nodes.get("n4")?.allocHosts, [7]);
  strictEqual(restored.nodes.get("n5")?.mesh?.publicKey, KEY_5);
  const plain = stateFrom(baseCommands);
  const text = new TextDecoder().decode(encodeSnapshot(plain));
  for (const field of ['"subnet"', '"mesh"', '"network"', '"ip"']) {
    strictEqual(text.includes(field), false, field);
  }
});
