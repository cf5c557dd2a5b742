import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  buildRouteTable,
  requestHost,
  type Route,
  type RouteLookup,
  RouteTableError,
} from "./route_table.ts";

const ep = (n: number, port = 8080) => ({
  address: `10.210.0.${n}`,
  port,
  allocId: `a${n}`,
});

function serviceOf(lookup: RouteLookup): string {
  return lookup.kind === "route" ? lookup.route.service : lookup.kind;
}

Deno.test("longest prefix wins, on segment boundaries", () => {
  const table = buildRouteTable([
    {
      host: "shop.example.com",
      pathPrefix: "/",
      service: "web",
      endpoints: [ep(1)],
    },
    {
      host: "shop.example.com",
      pathPrefix: "/api",
      service: "api",
      endpoints: [ep(2)],
    },
    {
      host: "shop.example.com",
      pathPrefix: "/api/v2/",
      service: "api2",
      endpoints: [ep(3)],
    },
  ]);
  const at = (path: string) =>
    serviceOf(table.lookup("shop.example.com", path));
  strictEqual(at("/"), "web");
  strictEqual(at("/index.html"), "web");
  strictEqual(at("/api"), "api");
  strictEqual(at("/api/"), "api");
  strictEqual(at("/api/x"), "api");
  strictEqual(at("/apix"), "web");
  strictEqual(at("/api/v2"), "api2");
  strictEqual(at("/api/v2/orders"), "api2");
  strictEqual(at("/api/v20"), "api");
});

Deno.test("hosts match case-insensitively, without port or trailing dot", () => {
  const table = buildRouteTable([
    {
      host: "Shop.Example.com.",
      pathPrefix: "/",
      service: "web",
      endpoints: [ep(1)],
    },
  ]);
  for (
    const host of [
      "shop.example.com",
      "SHOP.example.COM:8080",
      "shop.example.com.",
      "shop.example.com.:443",
    ]
  ) {
    strictEqual(serviceOf(table.lookup(host, "/")), "web", host);
  }
  deepStrictEqual([...table.hosts], ["shop.example.com"]);
  strictEqual(requestHost("[::1]:80"), "[::1]");
  strictEqual(requestHost(undefined), "");
});

Deno.test("unknown host, host without a matching prefix, route without endpoints", () => {
  const table = buildRouteTable([
    {
      host: "a.example.com",
      pathPrefix: "/api",
      service: "api",
      endpoints: [ep(1)],
    },
    { host: "b.example.com", pathPrefix: "/", service: "idle", endpoints: [] },
  ]);
  deepStrictEqual(table.lookup("nope.example.com", "/"), {
    kind: "unknown-host",
    host: "nope.example.com",
  });
  deepStrictEqual(table.lookup("", "/"), { kind: "unknown-host", host: "" });
  deepStrictEqual(table.lookup("a.example.com", "/web"), {
    kind: "no-path-match",
    host: "a.example.com",
  });
  const idle = table.lookup("b.example.com", "/x");
  strictEqual(idle.kind, "no-endpoint");
  ok(idle.kind === "no-endpoint" && idle.route.service === "idle");
});

Deno.test("a service may have several routes; endpoints keep their keys", () => {
  const endpoints = [ep(1), { address: "fd00::5", port: 80, allocId: "v6" }];
  const table = buildRouteTable([
    { host: "a.example.com", pathPrefix: "/", service: "web", endpoints },
    { host: "www.a.example.com", pathPrefix: "/", service: "web", endpoints },
    { host: "b.example.com", pathPrefix: "/web", service: "web", endpoints },
  ]);
  strictEqual(table.routes.length, 3);
  for (const host of ["a.example.com", "www.a.example.com"]) {
    strictEqual(serviceOf(table.lookup(host, "/")), "web");
  }
  strictEqual(serviceOf(table.lookup("b.example.com", "/web/x")), "web");
  deepStrictEqual(table.routes[0]!.endpoints.map((e) => e.key), [
    "10.210.0.1:8080",
    "[fd00::5]:80",
  ]);
  strictEqual(table.routes[2]!.key, "b.example.com /web");
});

Deno.test("bad input is refused with every problem named", () => {
  const bad: Route[] = [
    { host: "exa mple.com", pathPrefix: "/", service: "a", endpoints: [] },
    { host: "10.0.0.1", pathPrefix: "/", service: "a", endpoints: [] },
    { host: "a.com:80", pathPrefix: "/", service: "a", endpoints: [] },
    { host: "-a.com", pathPrefix: "/", service: "a", endpoints: [] },
    { host: "b.com", pathPrefix: "api", service: "a", endpoints: [] },
    { host: "b.com", pathPrefix: "/a?b", service: "a", endpoints: [] },
    { host: "b.com", pathPrefix: "/a//b", service: "a", endpoints: [] },
    { host: "b.com", pathPrefix: "/a/../b", service: "a", endpoints: [] },
    { host: "c.com", pathPrefix: "/", service: "", endpoints: [] },
    {
      host: "d.com",
      pathPrefix: "/",
      service: "d",
      endpoints: [
        { address: "not-an-ip", port: 80, allocId: "x" },
        { address: "10.0.0.1", port: 0, allocId: "x" },
        { address: "10.0.0.1", port: 80, allocId: "" },
        { address: "10.0.0.300", port: 80, allocId: "x" },
        { address: "10.0.0.2", port: 80, allocId: "x" },
        { address: "10.0.0.2", port: 80, allocId: "y" },
      ],
    },
    { host: "e.com", pathPrefix: "/x/", service: "e1", endpoints: [] },
    { host: "E.com", pathPrefix: "/x", service: "e2", endpoints: [] },
  ];
  let caught: unknown = null;
  try {
    buildRouteTable(bad);
  } catch (e) {
    caught = e;
  }
  ok(caught instanceof RouteTableError, String(caught));
  {
    const e = caught;
    const text = e.problems.join("\n");
    strictEqual(e.problems.length, 15, text);
    ok(text.includes("host is not a DNS name"));
    ok(text.includes("path prefix must start with /"));
    ok(text.includes("no query"));
    ok(text.includes(".. segment"));
    ok(text.includes("service is empty"));
    ok(text.includes("address is not an IP address"));
    ok(text.includes("port is not 1-65535"));
    ok(text.includes("allocId is empty"));
    ok(text.includes("listed twice"));
    ok(text.includes("e.com/x is already routed to e1"));
  }
});
