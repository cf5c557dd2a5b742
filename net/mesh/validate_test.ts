import { assertEquals, assertTrue, rejection } from "./_assert_test.ts";
import { Mesh } from "./mesh.ts";
import {
  checkPeers,
  interfaceNameProblem,
  MeshConfigError,
  parseEndpoint,
} from "./validate.ts";

const OWN_KEY = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
const KEY_B = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";
const KEY_C = "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M=";
const own = { publicKey: OWN_KEY, address: (10 << 24) + (210 << 16) + 257 };

function peer(key: string, index: number) {
  return {
    publicKey: key,
    endpoint: `192.0.2.${index}:51820`,
    allowedIps: [`10.210.${index}.0/24`, `10.210.${index}.1/32`],
  };
}

function problemOf(peers: unknown): string {
  try {
    checkPeers(peers as never, own);
  } catch (error) {
    assertTrue(error instanceof MeshConfigError, String(error));
    return error.message;
  }
  throw new Error("expected the peers to be refused");
}

Deno.test("good peers come back canonical", () => {
  const out = checkPeers([
    {
      ...peer(KEY_B, 2),
      allowedIps: ["10.210.2.1/32", "10.210.2.0/24", "10.210.2.1/32"],
    },
    peer(KEY_C, 3),
  ], own);
  assertEquals(out, [
    {
      publicKey: KEY_B,
      endpoint: "192.0.2.2:51820",
      allowedIps: ["10.210.2.0/24", "10.210.2.1/32"],
    },
    {
      publicKey: KEY_C,
      endpoint: "192.0.2.3:51820",
      allowedIps: ["10.210.3.0/24", "10.210.3.1/32"],
    },
  ]);
  assertEquals(checkPeers([], own), []);
});

Deno.test("bad keys, endpoints and CIDRs are each named", () => {
  const cases: [unknown, RegExp][] = [
    [{ ...peer(KEY_B, 2), publicKey: "nope" }, /not a WireGuard key/],
    [{ ...peer(KEY_B, 2), publicKey: KEY_B.slice(1) }, /not a WireGuard key/],
    [{ ...peer(KEY_B, 2), publicKey: OWN_KEY }, /own public key/],
    [
      { ...peer(KEY_B, 2), endpoint: "192.0.2.2" },
      /not an IPv4 address and port/,
    ],
    [
      { ...peer(KEY_B, 2), endpoint: "node-b:51820" },
      /not an IPv4 address and port/,
    ],
    [{ ...peer(KEY_B, 2), endpoint: "192.0.2.2:0" }, /not a port/],
    [{ ...peer(KEY_B, 2), endpoint: "192.0.2.2:65536" }, /not a port/],
    [{ ...peer(KEY_B, 2), endpoint: "256.0.2.2:51820" }, /not an IPv4/],
    [{ ...peer(KEY_B, 2), endpoint: "127.0.0.1:51820" }, /not a unicast/],
    [{ ...peer(KEY_B, 2), endpoint: "224.0.0.1:51820" }, /not a unicast/],
    [{ ...peer(KEY_B, 2), endpoint: "[::1]:51820" }, /not an IPv4/],
    [{ ...peer(KEY_B, 2), endpoint: 51820 }, /must be a string/],
    [{ ...peer(KEY_B, 2), allowedIps: [] }, /must list/],
    [{ ...peer(KEY_B, 2), allowedIps: "10.210.2.0/24" }, /must list/],
    [{ ...peer(KEY_B, 2), allowedIps: ["10.210.2.1/24"] }, /host bits set/],
    [{ ...peer(KEY_B, 2), allowedIps: ["10.210.2.0/33"] }, /prefix length/],
    [{ ...peer(KEY_B, 2), allowedIps: ["10.210.2.0"] }, /not a CIDR/],
    [{ ...peer(KEY_B, 2), allowedIps: ["fd00::/64"] }, /not an IPv4/],
    [{ ...peer(KEY_B, 2), allowedIps: [7] }, /not a CIDR/],
    [{ ...peer(KEY_B, 2), allowedIps: ["0.0.0.0/0"] }, /wider than/],
    [{ ...peer(KEY_B, 2), allowedIps: ["10.210.1.0/24"] }, /own mesh address/],
    [{ ...peer(KEY_B, 2), allowedIps: ["10.210.0.0/16"] }, /own mesh address/],
    [null, /not an object/],
  ];
  for (const [input, expected] of cases) {
    const message = problemOf([input]);
    assertTrue(expected.test(message), `${JSON.stringify(input)}: ${message}`);
  }
});

Deno.test("two peers may not share a key or an allowed IP", () => {
  assertTrue(/listed twice/.test(problemOf([peer(KEY_B, 2), peer(KEY_B, 3)])));
  const overlap = problemOf([
    peer(KEY_B, 2),
    { ...peer(KEY_C, 3), allowedIps: ["10.210.2.128/25"] },
  ]);
  assertTrue(/overlaps 10.210.2.0\/24/.test(overlap), overlap);
  // Every problem is listed, not only the first.
  const both = problemOf([
    { ...peer(KEY_B, 2), endpoint: "x" },
    { ...peer(KEY_C, 3), publicKey: "y" },
  ]);
  assertTrue(/endpoint/.test(both) && /not a WireGuard key/.test(both), both);
});

Deno.test("the mesh refuses bad settings when made", async () => {
  const base = {
    keyPath: "/nonexistent/key",
    address: "10.210.1.1",
    log: () => {},
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ interfaceName: "a-name-far-too-long" }, /not an interface name/],
    [{ interfaceName: "bad/name" }, /not an interface name/],
    [{ interfaceName: "" }, /not an interface name/],
    [{ listenPort: 0 }, /not a port/],
    [{ listenPort: 70000 }, /not a port/],
    [{ listenPort: 1.5 }, /not a port/],
    [{ address: "10.210.1" }, /not an IPv4 address/],
    [{ address: "10.210.1.1/24" }, /not an IPv4 address/],
    [{ mtu: 100 }, /MTU/],
    [{ keyPath: "" }, /keyPath/],
  ];
  for (const [change, expected] of cases) {
    const error = await rejection(() =>
      new Mesh({ ...base, ...change } as never)
    );
    assertTrue(error instanceof MeshConfigError, String(error));
    assertTrue(expected.test(error.message), error.message);
  }
  assertEquals(interfaceNameProblem("mill-wg"), null);
  assertEquals(parseEndpoint("10.0.0.1:51820"), "10.0.0.1:51820");
});
