import { assertEquals } from "./_assert_test.ts";
import { peerSetArgs, PERSISTENT_KEEPALIVE_S, routeChanges } from "./plan.ts";
import type { MeshPeerStatus } from "./wg_dump.ts";

const B = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";
const C = "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M=";

function status(key: string, endpoint: string, ips: string[]): MeshPeerStatus {
  return {
    publicKey: key,
    endpoint,
    allowedIps: ips,
    latestHandshakeMs: null,
    rxBytes: 0,
    txBytes: 0,
    persistentKeepaliveS: PERSISTENT_KEEPALIVE_S,
  };
}

Deno.test("peerSetArgs: nothing when equal, removals first, changes whole", () => {
  const wantB = {
    publicKey: B,
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.210.2.0/24", "10.210.2.1/32"],
  };
  assertEquals(
    peerSetArgs([
      status(B, "192.0.2.2:51820", ["10.210.2.1/32", "10.210.2.0/24"]),
    ], [wantB]),
    [],
  );
  assertEquals(
    peerSetArgs([
      status(C, "192.0.2.3:51820", ["10.210.3.0/24"]),
      status(B, "192.0.2.9:51820", wantB.allowedIps),
    ], [wantB]),
    [
      "peer",
      C,
      "remove",
      "peer",
      B,
      "endpoint",
      "192.0.2.2:51820",
      "persistent-keepalive",
      "25",
      "allowed-ips",
      "10.210.2.0/24,10.210.2.1/32",
    ],
  );
  // A keepalive someone turned off by hand is put back.
  assertEquals(
    peerSetArgs([{
      ...status(B, wantB.endpoint, wantB.allowedIps),
      persistentKeepaliveS: null,
    }], [wantB]).length,
    8,
  );
  assertEquals(peerSetArgs([status(B, wantB.endpoint, wantB.allowedIps)], []), [
    "peer",
    B,
    "remove",
  ]);
});

Deno.test("routeChanges: adds missing, fixes the source, removes strays", () => {
  const src = "10.210.1.1";
  assertEquals(
    routeChanges(
      [
        { dst: "10.210.2.1", prefsrc: src },
        { dst: "10.210.2.0/24" },
        { dst: "10.210.9.0/24", prefsrc: src },
        { dst: "10.210.1.1", protocol: "kernel" },
      ],
      ["10.210.2.0/24", "10.210.2.1/32", "10.210.3.0/24"],
      src,
    ),
    { remove: ["10.210.9.0/24"], replace: ["10.210.2.0/24", "10.210.3.0/24"] },
  );
  assertEquals(
    routeChanges(
      [{ dst: "10.210.2.0/24", prefsrc: src }],
      ["10.210.2.0/24"],
      src,
    ),
    { remove: [], replace: [] },
  );
});
