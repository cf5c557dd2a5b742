import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { Balancer } from "./balancer.ts";
import { buildRouteTable, type TableRoute } from "./route_table.ts";

function route(
  count: number,
  balance?: "round-robin" | "least-connections",
): TableRoute {
  const endpoints = Array.from({ length: count }, (_, i) => ({
    address: `10.210.0.${i + 1}`,
    port: 80,
    allocId: `a${i + 1}`,
  }));
  return buildRouteTable([{
    host: "a.example.com",
    pathPrefix: "/",
    service: "web",
    endpoints,
    ...(balance === undefined ? {} : { balance }),
  }]).routes[0]!;
}

function clock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const hosts = (picks: ({ key: string } | null)[]) =>
  picks.map((p) => p === null ? "none" : /\.(\d+):/.exec(p.key)![1]!);

Deno.test("round-robin takes each endpoint in turn", () => {
  const balancer = new Balancer();
  const r = route(3);
  const picks = Array.from({ length: 6 }, () => balancer.pick(r));
  deepStrictEqual(hosts(picks), ["1", "2", "3", "1", "2", "3"]);
});

Deno.test("least-connections takes the least busy, ties in turn", () => {
  const balancer = new Balancer({ policy: "least-connections" });
  const r = route(3);
  balancer.acquire("10.210.0.1:80");
  balancer.acquire("10.210.0.1:80");
  balancer.acquire("10.210.0.2:80");
  deepStrictEqual(hosts([balancer.pick(r)]), ["3"]);
  balancer.acquire("10.210.0.3:80");
  // 2 and 3 both have one: they share.
  deepStrictEqual(hosts([balancer.pick(r), balancer.pick(r)]).sort(), [
    "2",
    "3",
  ]);
  balancer.release("10.210.0.1:80");
  balancer.release("10.210.0.1:80");
  deepStrictEqual(hosts([balancer.pick(r)]), ["1"]);
  // The route's own policy wins over the balancer's default.
  const rr = new Balancer({ policy: "least-connections" });
  const roundRobin = route(2, "round-robin");
  rr.acquire("10.210.0.1:80");
  deepStrictEqual(hosts([rr.pick(roundRobin), rr.pick(roundRobin)]), [
    "1",
    "2",
  ]);
});

Deno.test("a failed endpoint is skipped for a doubling while, back at its first success", () => {
  const time = clock();
  const balancer = new Balancer({
    health: { baseMs: 100, maxMs: 300 },
    now: time.now,
  });
  const r = route(2);
  const one = "10.210.0.1:80";
  balancer.reportFailure(one);
  deepStrictEqual(hosts([balancer.pick(r), balancer.pick(r)]), ["2", "2"]);
  time.advance(101);
  deepStrictEqual(hosts([balancer.pick(r), balancer.pick(r)]).sort(), [
    "1",
    "2",
  ]);
  balancer.reportFailure(one); // second in a row: 200 ms
  time.advance(150);
  deepStrictEqual(hosts([balancer.pick(r), balancer.pick(r)]), ["2", "2"]);
  balancer.reportFailure(one);
  balancer.reportFailure(one); // capped at 300 ms
  strictEqual(
    balancer.snapshot().find((s) => s.key === one)?.skippedForMs,
    300,
  );
  balancer.reportSuccess(one);
  deepStrictEqual(hosts([balancer.pick(r), balancer.pick(r)]).sort(), [
    "1",
    "2",
  ]);
});

Deno.test("when every endpoint is skipped they are tried anyway, the earliest marked first", () => {
  const time = clock();
  const balancer = new Balancer({ now: time.now });
  const r = route(3);
  balancer.reportFailure("10.210.0.2:80");
  time.advance(10);
  balancer.reportFailure("10.210.0.3:80");
  time.advance(10);
  balancer.reportFailure("10.210.0.1:80");
  deepStrictEqual(hosts([balancer.pick(r)]), ["2"]);
});

Deno.test("tried endpoints are not picked again; null once all were tried", () => {
  const balancer = new Balancer();
  const r = route(2);
  const first = balancer.pick(r)!;
  const second = balancer.pick(r, new Set([first.key]))!;
  strictEqual(second.key === first.key, false);
  strictEqual(balancer.pick(r, new Set([first.key, second.key])), null);
});

Deno.test("retain forgets endpoints that left, unless a request still holds them", () => {
  const balancer = new Balancer();
  balancer.acquire("10.210.0.1:80");
  balancer.reportFailure("10.210.0.2:80");
  balancer.retain(new Set(), new Set());
  deepStrictEqual(balancer.snapshot().map((s) => s.key), ["10.210.0.1:80"]);
  balancer.release("10.210.0.1:80");
  balancer.retain(new Set(), new Set());
  deepStrictEqual(balancer.snapshot(), []);
});
