import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import http from "node:http";
import {
  endpointOf,
  request,
  startUpstream,
  type Upstream,
  withProxy,
} from "./proxy_testing.ts";
import type { Proxy } from "./server.ts";
import type { Route } from "./route_table.ts";

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Between an endpoint leaving the table and its stop: requests already on
 * their way reach it. Stopping at once can close a connection whose
 * request is still on the wire (the upstream sees it idle), which for a
 * POST is a 502, as it must not be retried.
 */
const drain = () => pause(50);

/** An upstream of one version; each answer names it, after a short wait. */
function replica(version: string, index: number): Upstream {
  return startUpstream(`${version}-${index}`, async (req) => {
    if (req.method === "POST") await req.text();
    await pause(2);
    return new Response(version);
  });
}

function table(replicas: readonly Upstream[]): Route[] {
  return [{
    host: "app.test",
    pathPrefix: "/",
    service: "app",
    endpoints: replicas.map(endpointOf),
  }];
}

/** Concurrent clients on keep-alive connections until stopped; every status counted. */
function load(proxy: Proxy, workers: number, methods: readonly string[]) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  const statuses: Record<string, number> = {};
  const versions = new Set<string>();
  let running = true;
  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let i = 0; running; i++) {
      const method = methods[(worker + i) % methods.length]!;
      const answer = await request(proxy.httpPort, "app.test", `/w${worker}`, {
        method,
        agent,
        ...(method === "GET" ? {} : { body: `request ${i}` }),
      }).catch((error) => ({ status: `error ${error.message}`, text: "" }));
      statuses[String(answer.status)] = (statuses[String(answer.status)] ?? 0) +
        1;
      versions.add(answer.text);
    }
  });
  return {
    statuses,
    versions,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

Deno.test("a rolling deploy and a rollback under load drop no request", async () => {
  const v1 = [replica("v1", 0), replica("v1", 1)];
  const started: Upstream[] = [...v1];
  try {
    await withProxy(table(v1), {}, async ({ proxy, log }) => {
      const traffic = load(proxy, 8, ["GET", "POST", "PUT", "GET"]);
      await pause(100);
      // Roll v1 → v2 one replica at a time: the new one joins, then the
      // old one leaves the table, and only after a drain stops.
      const v2 = [replica("v2", 0), replica("v2", 1)];
      started.push(...v2);
      proxy.setRoutes(table([v1[0]!, v1[1]!, v2[0]!]));
      await pause(80);
      proxy.setRoutes(table([v1[1]!, v2[0]!]));
      await drain();
      await v1[0]!.stop();
      await pause(80);
      proxy.setRoutes(table([v1[1]!, v2[0]!, v2[1]!]));
      await pause(80);
      proxy.setRoutes(table([v2[0]!, v2[1]!]));
      await drain();
      await v1[1]!.stop();
      await pause(100);
      // Roll back to fresh v1 replicas the same way.
      const back = [replica("v1", 2), replica("v1", 3)];
      started.push(...back);
      proxy.setRoutes(table([v2[0]!, v2[1]!, back[0]!, back[1]!]));
      await pause(80);
      proxy.setRoutes(table([v2[1]!, back[0]!, back[1]!]));
      await drain();
      await v2[0]!.stop();
      await pause(80);
      proxy.setRoutes(table(back));
      await drain();
      await v2[1]!.stop();
      await pause(100);
      await traffic.stop();
      deepStrictEqual(
        Object.keys(traffic.statuses),
        ["200"],
        JSON.stringify(log.filter((e) => e.status !== 200)),
      );
      ok(traffic.statuses["200"]! > 100, JSON.stringify(traffic.statuses));
      deepStrictEqual([...traffic.versions].sort(), ["v1", "v2"]);
      // After the swap only the new set answers.
      strictEqual((await request(proxy.httpPort, "app.test", "/")).text, "v1");
    });
  } finally {
    for (const upstream of started) await upstream.stop();
  }
});

Deno.test("an endpoint stopped a moment before it leaves the table is retried on another", async () => {
  const replicas = [replica("v1", 0), replica("v1", 1), replica("v1", 2)];
  try {
    await withProxy(table(replicas), {}, async ({ proxy }) => {
      const traffic = load(proxy, 8, ["GET", "PUT"]);
      await pause(100);
      // Stopped first, removed later: what reaches it is refused and retried.
      await replicas[0]!.stop();
      await pause(150);
      proxy.setRoutes(table(replicas.slice(1)));
      await pause(100);
      await traffic.stop();
      deepStrictEqual(Object.keys(traffic.statuses), ["200"]);
      ok(proxy.stats().retries >= 1, JSON.stringify(proxy.stats()));
    });
  } finally {
    for (const upstream of replicas) await upstream.stop();
  }
});
