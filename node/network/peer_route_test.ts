import { assertEquals } from "../../containerd/_assert_test.ts";
import {
  freshPeers,
  MESH_FRESH_MS,
  type MeshRoute,
  NO_MESH,
  peerEndpointOf,
} from "./peer_route.ts";

const KEY_B = btoa("b".repeat(32));
const meshed = {
  endpoints: { peer: "192.0.2.2:7946", api: null },
  mesh: {
    publicKey: KEY_B,
    endpoint: "192.0.2.2:51820",
    peer: "10.210.1.1:7946",
  },
};
const route = (fresh: string[]): MeshRoute => ({
  up: true,
  fresh: (key) => fresh.includes(key),
});

Deno.test("peerEndpointOf(): the mesh address only when both ends are on the mesh and it works", () => {
  assertEquals(peerEndpointOf(meshed, route([KEY_B])), "10.210.1.1:7946");
  assertEquals(
    peerEndpointOf(meshed, route([])),
    "192.0.2.2:7946",
    "no recent handshake: the registered address",
  );
  assertEquals(
    peerEndpointOf(meshed, NO_MESH),
    "192.0.2.2:7946",
    "the caller has no mesh",
  );
  const notYet = {
    ...meshed,
    mesh: { publicKey: KEY_B, endpoint: meshed.mesh.endpoint },
  };
  assertEquals(peerEndpointOf(notYet, route([KEY_B])), "192.0.2.2:7946");
  assertEquals(
    peerEndpointOf({ endpoints: meshed.endpoints, mesh: null }, route([])),
    "192.0.2.2:7946",
  );
  assertEquals(
    peerEndpointOf(
      { endpoints: { peer: null, api: null }, mesh: null },
      NO_MESH,
    ),
    null,
  );
});

Deno.test("freshPeers(): a handshake within WireGuard's session lifetime, none or older is not", () => {
  const now = 1_000_000_000;
  const fresh = freshPeers([
    { publicKey: "a", latestHandshakeMs: now - 1_000 },
    { publicKey: "b", latestHandshakeMs: now - MESH_FRESH_MS },
    { publicKey: "c", latestHandshakeMs: now - MESH_FRESH_MS - 1 },
    { publicKey: "d", latestHandshakeMs: null },
  ], now);
  assertEquals([...fresh].sort(), ["a", "b"]);
});
