/**
 * The node's ingress part with a real proxy: it starts even when its port
 * is taken (another web server), says so, and serves once the port is free.
 */
import { strictEqual } from "node:assert/strict";
import { emptyState } from "../../raft/mod.ts";
import { IngressService } from "./ingress_service.ts";

Deno.test("IngressService: a taken port is said and retried; the agent's start goes on", async () => {
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (squatter.addr as Deno.NetAddr).port;
  const https = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const httpsPort = (https.addr as Deno.NetAddr).port;
  https.close();
  const logs: string[] = [];
  const service = new IngressService({
    http: { hostname: "127.0.0.1", port },
    https: { hostname: "127.0.0.1", port: httpsPort },
    view: () => ({ state: emptyState(), subscribe: () => () => {} }),
    certificates: () => Promise.resolve({}),
    log: (level, message) => logs.push(`${level} ${message}`),
    accessLog: () => {},
  });
  try {
    await service.start();
    strictEqual(
      logs.some((l) => l.startsWith("error ingress: cannot listen")),
      true,
      logs.join("\n"),
    );
    squatter.close();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && status === 0) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`, {
          headers: { host: "nothing.test" },
        });
        await response.body?.cancel();
        status = response.status;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    strictEqual(status, 404, "the proxy answers an unknown host");
  } finally {
    await service.stop();
    try {
      squatter.close();
    } catch {
      // Closed above.
    }
  }
});
