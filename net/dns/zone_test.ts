import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { buildZone, type DnsRecord, type ZoneInput } from "./zone.ts";
import { decodeMessage, encodeQuery } from "./_packet.ts";
import { respond, ResponderState } from "./respond.ts";

const INPUT: ZoneInput = {
  services: [
    {
      name: "web",
      endpoints: [
        { allocId: "web-a-1", address: "10.210.0.2", port: 8080 },
        { allocId: "web-a-2", address: "10.210.1.2", port: 8080 },
      ],
    },
    { name: "idle", endpoints: [] },
    {
      name: "worker",
      endpoints: [{ allocId: "worker-a-1", address: "10.210.0.9", port: null }],
    },
  ],
  allocs: [
    { id: "web-a-1", address: "10.210.0.2" },
    { id: "web-a-2", address: "10.210.1.2" },
    { id: "worker-a-1", address: "10.210.0.9" },
  ],
  nodes: [{ name: "node-a", address: "192.168.1.10" }],
};

function addresses(records: readonly DnsRecord[]): string[] {
  return records.flatMap((r) => r.type === "A" ? [r.address] : []).sort();
}

Deno.test("a service name has one A record per endpoint address", () => {
  const answer = buildZone(INPUT).answer({ name: "web.mill", type: "A" });
  strictEqual(answer.rcode, "NOERROR");
  deepStrictEqual(addresses(answer.answers), ["10.210.0.2", "10.210.1.2"]);
  ok(answer.answers.every((r) => r.ttl === 5 && r.name === "web.mill"));
  deepStrictEqual(answer.authority, []);
});

Deno.test("names are case-insensitive and take a trailing dot", () => {
  const zone = buildZone(INPUT);
  for (const name of ["WEB.MILL", "Web.Mill.", "web.mill."]) {
    deepStrictEqual(
      addresses(zone.answer({ name, type: "a" }).answers),
      ["10.210.0.2", "10.210.1.2"],
      name,
    );
  }
  ok(zone.owns("X.MILL."));
});

Deno.test("SRV records name each alloc, and their A records are additionals", () => {
  const answer = buildZone(INPUT).answer({
    name: "_web._tcp.mill",
    type: "SRV",
  });
  strictEqual(answer.rcode, "NOERROR");
  deepStrictEqual(
    answer.answers.map((r) =>
      r.type === "SRV" ? [r.priority, r.weight, r.port, r.target] : r
    ),
    [[0, 1, 8080, "web-a-1.alloc.mill"], [0, 1, 8080, "web-a-2.alloc.mill"]],
  );
  deepStrictEqual(
    answer.additionals.map((r) => [r.name, r.type === "A" ? r.address : ""]),
    [["web-a-1.alloc.mill", "10.210.0.2"], [
      "web-a-2.alloc.mill",
      "10.210.1.2",
    ]],
  );
});

Deno.test("allocs and nodes have A records under alloc. and node.", () => {
  const zone = buildZone(INPUT);
  deepStrictEqual(
    addresses(zone.answer({ name: "web-a-2.alloc.mill", type: "A" }).answers),
    [
      "10.210.1.2",
    ],
  );
  deepStrictEqual(
    addresses(zone.answer({ name: "node-a.node.mill", type: "A" }).answers),
    [
      "192.168.1.10",
    ],
  );
});

Deno.test("a name that does not exist is NXDOMAIN with the SOA", () => {
  const zone = buildZone(INPUT);
  for (
    const name of [
      "nope.mill",
      "x.web.mill",
      "nope.alloc.mill",
      "_nope._tcp.mill",
    ]
  ) {
    const answer = zone.answer({ name, type: "A" });
    strictEqual(answer.rcode, "NXDOMAIN", name);
    deepStrictEqual(answer.answers, []);
    strictEqual(answer.authority.length, 1);
    const soa = answer.authority[0]!;
    ok(
      soa.type === "SOA" && soa.minimum === 5 && soa.ttl === 5 &&
        soa.name === "mill",
    );
  }
});

Deno.test("a name without the asked type is NODATA: NOERROR, no answers, the SOA", () => {
  const zone = buildZone(INPUT);
  const cases: [string, string][] = [
    ["web.mill", "AAAA"],
    ["web.mill", "SRV"],
    ["_web._tcp.mill", "A"],
    ["node-a.node.mill", "TXT"],
    ["mill", "A"],
  ];
  for (const [name, type] of cases) {
    const answer = zone.answer({ name, type });
    strictEqual(answer.rcode, "NOERROR", `${name} ${type}`);
    deepStrictEqual(answer.answers, []);
    strictEqual(answer.authority[0]?.type, "SOA");
  }
});

Deno.test("a service with no healthy endpoint exists: NODATA, not NXDOMAIN", () => {
  const zone = buildZone(INPUT);
  for (const [name, type] of [["idle.mill", "A"], ["_idle._tcp.mill", "SRV"]]) {
    const answer = zone.answer({ name: name!, type: type! });
    strictEqual(answer.rcode, "NOERROR");
    deepStrictEqual(answer.answers, []);
    strictEqual(answer.authority[0]?.type, "SOA");
  }
});

Deno.test("the apex has the SOA; alloc., node. and _tcp. exist even when empty", () => {
  const zone = buildZone({ services: [], allocs: [], nodes: [] });
  const soa = zone.answer({ name: "mill", type: "SOA" });
  strictEqual(soa.rcode, "NOERROR");
  strictEqual(soa.answers[0]?.type, "SOA");
  for (const name of ["alloc.mill", "node.mill", "_tcp.mill"]) {
    strictEqual(zone.answer({ name, type: "A" }).rcode, "NOERROR", name);
  }
});

Deno.test("an endpoint without a port has an A record but no SRV", () => {
  const zone = buildZone(INPUT);
  deepStrictEqual(
    addresses(zone.answer({ name: "worker.mill", type: "A" }).answers),
    [
      "10.210.0.9",
    ],
  );
  deepStrictEqual(
    zone.answer({ name: "_worker._tcp.mill", type: "SRV" }).answers,
    [],
  );
});

Deno.test("ANY returns every record of the name", () => {
  const zone = buildZone(INPUT);
  strictEqual(zone.answer({ name: "web.mill", type: "ANY" }).answers.length, 2);
  strictEqual(zone.answer({ name: "mill", type: 255 }).answers[0]?.type, "SOA");
});

Deno.test("owns is true for the domain and below only", () => {
  const zone = buildZone(INPUT);
  ok(zone.owns("mill"));
  ok(zone.owns("a.b.mill"));
  ok(!zone.owns("notmill"));
  ok(!zone.owns("mill.example.com"));
  ok(!zone.owns("example.com"));
  strictEqual(zone.answer({ name: "example.com", type: "A" }).rcode, "REFUSED");
});

Deno.test("invalid names, addresses and ports are skipped, never thrown on", () => {
  const bad = {
    services: [
      {
        name: "bad_name",
        endpoints: [{ allocId: "x", address: "10.0.0.1", port: 80 }],
      },
      { name: "-dash", endpoints: [] },
      { name: "a".repeat(64), endpoints: [] },
      { name: "has.dot", endpoints: [] },
      { name: "", endpoints: [] },
      { name: 42, endpoints: null },
      {
        name: "Ok",
        endpoints: [
          { allocId: "ok-1", address: "10.0.0.300", port: 80 },
          { allocId: "ok-2", address: "::1", port: 80 },
          { allocId: "ok-3", address: "10.0.0.3", port: 70000 },
          { allocId: "bad id", address: "10.0.0.4", port: 80 },
          null,
        ],
      },
    ],
    allocs: [{ id: "ünïcode", address: "10.0.0.5" }, {
      id: "fine",
      address: "nope",
    }, null],
    nodes: [{ name: "n..1", address: "10.0.0.6" }, {}],
  } as unknown as ZoneInput;
  const zone = buildZone(bad);
  ok(zone.skipped.length >= 12, zone.skipped.join("\n"));
  // What was valid survives: "Ok" lowercased with the two good addresses.
  deepStrictEqual(
    addresses(zone.answer({ name: "ok.mill", type: "A" }).answers),
    [
      "10.0.0.3",
      "10.0.0.4",
    ],
  );
  deepStrictEqual(
    zone.answer({ name: "_ok._tcp.mill", type: "SRV" }).answers,
    [],
  );
  strictEqual(
    zone.answer({ name: "bad_name.mill", type: "A" }).rcode,
    "NXDOMAIN",
  );
});

Deno.test("duplicates are merged; an SRV target missing from allocs still resolves", () => {
  const zone = buildZone({
    services: [{
      name: "api",
      endpoints: [
        { allocId: "api-1", address: "10.0.0.1", port: 80 },
        { allocId: "api-1", address: "10.0.0.1", port: 80 },
      ],
    }],
    allocs: [],
    nodes: [{ name: "n", address: "10.0.1.1" }, {
      name: "N",
      address: "10.0.1.1",
    }],
  });
  strictEqual(zone.answer({ name: "api.mill", type: "A" }).answers.length, 1);
  strictEqual(
    zone.answer({ name: "_api._tcp.mill", type: "SRV" }).answers.length,
    1,
  );
  strictEqual(
    zone.answer({ name: "n.node.mill", type: "A" }).answers.length,
    1,
  );
  deepStrictEqual(
    addresses(zone.answer({ name: "api-1.alloc.mill", type: "A" }).answers),
    [
      "10.0.0.1",
    ],
  );
});

Deno.test("options: another domain and TTL; bad ones throw with the rule", () => {
  const zone = buildZone(INPUT, { domain: "Cluster.Internal.", ttlSeconds: 2 });
  strictEqual(zone.domain, "cluster.internal");
  const answer = zone.answer({ name: "web.cluster.internal", type: "A" });
  ok(answer.answers.every((r) => r.ttl === 2));
  ok(!zone.owns("web.mill"));
  throws(() => buildZone(INPUT, { ttlSeconds: 6 }), /0 to 5/);
  throws(() => buildZone(INPUT, { ttlSeconds: 1.5 }), /whole number/);
  throws(() => buildZone(INPUT, { domain: "bad_domain" }), /valid labels/);
});

Deno.test("the SOA serial follows the content", () => {
  const a = buildZone(INPUT).serial;
  strictEqual(buildZone(INPUT).serial, a);
  const moved = {
    ...INPUT,
    nodes: [{ name: "node-a", address: "192.168.1.11" }],
  };
  ok(buildZone(moved).serial !== a);
});

/** The wire form, read back by an independent codec, says what answer() says. */
Deno.test("every precomputed response decodes to the zone's answer", () => {
  const zone = buildZone(INPUT);
  const state = new ResponderState("mill");
  state.setZone(zone);
  let id = 1;
  for (const name of [...zone.names(), "nope.mill", "deep.nope.alloc.mill"]) {
    for (const type of ["A", "SRV", "AAAA", "SOA", "TXT", "ANY"]) {
      const query = encodeQuery(id, name.toUpperCase(), type);
      const out = respond(query, false, state);
      ok(out instanceof Uint8Array);
      const decoded = decodeMessage(out);
      const expected = zone.answer({ name, type });
      strictEqual(decoded.id, id++);
      strictEqual(decoded.rcode, expected.rcode, `${name} ${type}`);
      ok(decoded.authoritative);
      // The question comes back as the client spelled it.
      strictEqual(decoded.questions[0]?.name, name.toUpperCase());
      const simple = (r: { type: string; data?: unknown }) =>
        JSON.stringify([r.type, r.type === "SOA" ? "soa" : r.data]);
      deepStrictEqual(
        decoded.answers.map(simple),
        expected.answers.map((r) =>
          simple({
            type: r.type,
            data: r.type === "A" ? r.address : r.type === "SRV"
              ? {
                priority: r.priority,
                weight: r.weight,
                port: r.port,
                target: r.target,
              }
              : null,
          })
        ),
        `${name} ${type}`,
      );
      strictEqual(decoded.authorities.length, expected.authority.length);
      strictEqual(decoded.additionals.length, expected.additionals.length);
      for (const soa of decoded.authorities) {
        strictEqual(soa.data.rname.toLowerCase(), "hostmaster.mill");
        strictEqual(soa.data.mname.toLowerCase(), "mill");
        strictEqual(soa.data.minimum, 5);
        strictEqual(soa.name.toLowerCase(), "mill");
      }
    }
  }
});
