import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  allocHostMax,
  type Cidr,
  clusterRangeProblem,
  contains,
  formatCidr,
  formatIpv4,
  gatewayOf,
  hostAddress,
  nodeSubnet,
  nodeSubnetCount,
  overlaps,
  parseCidr,
  parseIpv4,
} from "./cidr.ts";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") throw new Error(parsed);
  return parsed;
}

Deno.test("IPv4 addresses parse and format both ways; bad ones are null", () => {
  strictEqual(formatIpv4(parseIpv4("10.210.3.1")!), "10.210.3.1");
  strictEqual(parseIpv4("255.255.255.255"), 0xffffffff);
  for (
    const bad of [
      "10.210.3",
      "10.210.3.256",
      "01.2.3.4",
      "a.b.c.d",
      "",
      "1.2.3.4.5",
      " 1.2.3.4",
    ]
  ) {
    strictEqual(parseIpv4(bad), null, bad);
  }
});

Deno.test("CIDR ranges parse, refuse host bits with a suggestion, and compare", () => {
  strictEqual(formatCidr(cidr("10.210.0.0/16")), "10.210.0.0/16");
  strictEqual(
    parseCidr("10.210.1.0/16"),
    "10.210.1.0/16 has host bits set; did you mean 10.210.0.0/16?",
  );
  strictEqual(typeof parseCidr("10.210.0.0"), "string");
  strictEqual(typeof parseCidr("10.210.0.0/33"), "string");
  strictEqual(typeof parseCidr("10.210.0.0/1/2"), "string");
  strictEqual(overlaps(cidr("10.210.0.0/16"), cidr("10.210.7.0/24")), true);
  strictEqual(overlaps(cidr("10.210.0.0/16"), cidr("10.211.0.0/16")), false);
  strictEqual(overlaps(cidr("0.0.0.0/0"), cidr("192.168.1.0/24")), true);
  strictEqual(contains(cidr("10.210.3.0/24"), parseIpv4("10.210.3.77")!), true);
  strictEqual(contains(cidr("10.210.3.0/24"), parseIpv4("10.210.4.1")!), false);
});

Deno.test("a cluster range is private, a /8 to a /24", () => {
  strictEqual(clusterRangeProblem("10.210.0.0/16"), null);
  strictEqual(clusterRangeProblem("172.20.0.0/16"), null);
  strictEqual(clusterRangeProblem("192.168.50.0/24"), null);
  for (
    const bad of [
      "8.8.0.0/16",
      "10.210.0.0/25",
      "0.0.0.0/0",
      "172.0.0.0/8",
      "nonsense",
    ]
  ) {
    strictEqual(typeof clusterRangeProblem(bad), "string", bad);
  }
});

Deno.test("node subnets tile the range; each has its gateway and alloc hosts", () => {
  const range = cidr("10.210.0.0/16");
  strictEqual(nodeSubnetCount(range), 256);
  deepStrictEqual(
    [0, 1, 255].map((i) => formatCidr(nodeSubnet(range, i))),
    ["10.210.0.0/24", "10.210.1.0/24", "10.210.255.0/24"],
  );
  const subnet = nodeSubnet(range, 3);
  strictEqual(formatIpv4(gatewayOf(subnet)), "10.210.3.1");
  strictEqual(allocHostMax(subnet), 254);
  strictEqual(formatIpv4(hostAddress(subnet, 254)), "10.210.3.254");
  let threw = 0;
  for (
    const call of [
      () => nodeSubnet(range, 256),
      () => hostAddress(subnet, 255),
      () => hostAddress(subnet, 0),
    ]
  ) {
    try {
      call();
    } catch {
      threw++;
    }
  }
  strictEqual(threw, 3);
});
