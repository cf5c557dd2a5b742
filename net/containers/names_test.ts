import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  allocIdProblem,
  fnv1a32,
  IFNAME_LENGTH_MAX,
  interfaceNameProblem,
  netnsPrefixProblem,
  NetworkNames,
} from "./names.ts";

Deno.test("NetworkNames derives namespace, veth and table names from the prefix", () => {
  const names = new NetworkNames("mill");
  strictEqual(names.netnsOf("web-1"), "mill-a-web-1");
  strictEqual(names.netnsPathOf("web-1"), "/run/netns/mill-a-web-1");
  strictEqual(names.table, "mill");
  strictEqual(names.allocOfNetns("mill-a-web-1"), "web-1");
  strictEqual(names.allocOfNetns("mill-a-web:3:x"), "web:3:x");
  // Other prefixes' namespaces and the test beds' are not ours.
  strictEqual(names.allocOfNetns("millb-a-web-1"), null);
  strictEqual(names.allocOfNetns("mill-a"), null);
  strictEqual(names.allocOfNetns("mill-t-1234"), null);
  strictEqual(names.allocOfNetns("mill-a-"), null);
  const veth = names.vethOf("web-1");
  strictEqual(veth, names.vethOf("web-1"), "deterministic");
  strictEqual(veth.length, 14);
  strictEqual(interfaceNameProblem(veth), null);
  strictEqual(names.isOwnVeth(veth), true);
  strictEqual(names.isOwnVeth("eth0"), false);
  strictEqual(names.isOwnVeth(`${veth}0`), false);
  strictEqual(new NetworkNames("millb").isOwnVeth(veth), false);
});

Deno.test("veth names stay within 15 characters and differ between allocs and prefixes", () => {
  const names = new NetworkNames("a".repeat(24));
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const veth = names.vethOf(`web-${i}-${"x".repeat(i % 120)}`);
    strictEqual(veth.length <= IFNAME_LENGTH_MAX, true);
    seen.add(veth);
  }
  strictEqual(seen.size, 2000);
  const other = new NetworkNames("b");
  strictEqual(other.vethOf("web-1") === names.vethOf("web-1"), false);
});

Deno.test("bad prefixes, alloc ids and interface names are refused with the rule", () => {
  for (const bad of ["", "Mill", "mill-a", "1mill", "mill a", "a".repeat(25)]) {
    strictEqual(typeof netnsPrefixProblem(bad), "string", bad);
    throws(() => new NetworkNames(bad), /netns prefix/);
  }
  for (
    const bad of ["", "../x", "a/b", ".hidden", "-x", "a b", "x".repeat(129)]
  ) {
    strictEqual(typeof allocIdProblem(bad), "string", bad);
  }
  strictEqual(allocIdProblem("web:3:ab12"), null);
  for (const bad of ["", "a".repeat(16), "a b", "a/b", "-x"]) {
    strictEqual(typeof interfaceNameProblem(bad), "string", bad);
  }
});

Deno.test("fnv1a32 matches the reference vectors", () => {
  deepStrictEqual(
    ["", "a", "foobar"].map(fnv1a32),
    [0x811c9dc5, 0xe40c292c, 0xbf9cf968],
  );
});
