import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type Cidr, parseCidr } from "../../config/cidr.ts";
import { hostRouteClash, overlappingRoutes } from "./host_routes.ts";

const range = parseCidr("10.210.0.0/16") as Cidr;

Deno.test("overlappingRoutes() names the routes inside or around the range, not default ones or mill's own", () => {
  deepStrictEqual(
    overlappingRoutes(range, [
      { dst: "default", dev: "eth0" },
      { dst: "10.0.0.0/8", dev: "vpn0" },
      { dst: "10.210.7.0/24", dev: "eth1" },
      { dst: "10.210.9.9" },
      { dst: "10.211.0.0/16", dev: "eth2" },
      { dst: "10.210.3.0/24", dev: "mill0" },
      { dst: "fe80::/64", dev: "eth0" },
    ]),
    ["10.0.0.0/8 dev vpn0", "10.210.7.0/24 dev eth1", "10.210.9.9/32"],
  );
});

Deno.test("hostRouteClash() reads this machine's routes: a range around loopback clashes, an unused one does not", async () => {
  strictEqual(await hostRouteClash("10.255.252.0/22"), null);
  const clash = await hostRouteClash("127.0.0.0/16");
  strictEqual(clash?.includes("127.0.0.0/8 dev lo"), true, String(clash));
  strictEqual(clash?.includes("--cluster-range"), true);
});
