import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  defaultUpstreams,
  nameserversOf,
  parseUpstream,
  upstreamsFrom,
} from "./resolv_conf.ts";

const TEXT = `# generated
search example.internal
nameserver 127.0.0.53
nameserver 10.0.0.2
  nameserver   fd00::1
nameserver 10.210.0.1
options edns0
`;

Deno.test("nameservers are read in order", () => {
  deepStrictEqual(nameserversOf(TEXT), [
    "127.0.0.53",
    "10.0.0.2",
    "fd00::1",
    "10.210.0.1",
  ]);
});

Deno.test("upstreams leave out the server itself and keep other stubs", () => {
  // Listening on the node's bridge address at 53: that address is us.
  deepStrictEqual(
    upstreamsFrom(nameserversOf(TEXT), { hostname: "10.210.0.1", port: 53 }),
    [
      "127.0.0.53:53",
      "10.0.0.2:53",
    ],
  );
  // Listening on every address at 53: a loopback stub would be us.
  deepStrictEqual(
    upstreamsFrom(nameserversOf(TEXT), { hostname: "0.0.0.0", port: 53 }),
    [
      "10.0.0.2:53",
      "10.210.0.1:53",
    ],
  );
  // Another port: nothing in resolv.conf can be us.
  strictEqual(
    upstreamsFrom(nameserversOf(TEXT), { hostname: "127.0.0.53", port: 5353 })
      .length,
    3,
  );
});

Deno.test("an unreadable resolv.conf gives no upstreams", () => {
  deepStrictEqual(
    defaultUpstreams(
      { hostname: "127.0.0.1", port: 53 },
      "/nonexistent/resolv.conf",
    ),
    [],
  );
});

Deno.test("upstream texts are IPv4:port", () => {
  deepStrictEqual(parseUpstream("10.0.0.2:53"), {
    address: "10.0.0.2",
    port: 53,
  });
  for (
    const bad of [
      "10.0.0.2",
      "10.0.0.2:0",
      "10.0.0.2:70000",
      "host:53",
      "[::1]:53",
      "",
    ]
  ) {
    strictEqual(parseUpstream(bad), null, bad);
  }
});
