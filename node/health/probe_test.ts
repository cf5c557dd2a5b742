import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import type { HealthConfig } from "../../config/types.ts";
import { probeHttp, probeTarget, probeTcp, runProbe } from "./probe.ts";

/** A loopback HTTP server answering `status` on every path, or hanging on /hang. */
async function withServer(
  run: (port: number) => Promise<void>,
): Promise<void> {
  const release = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/hang") {
        await release.promise;
        return new Response("late");
      }
      const status = Number(path.slice(1)) || 200;
      return new Response(status === 204 || status === 304 ? null : "body", {
        status,
        headers: status >= 300 && status < 400 ? { location: "/login" } : {},
      });
    },
  );
  try {
    await run(server.addr.port);
  } finally {
    release.resolve();
    await server.shutdown();
  }
}

/** A port with nothing listening: bound, then closed. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("probeHttp() passes on 2xx and 3xx and fails on the rest", async (t) => {
  await withServer(async (port) => {
    const rows: [number, boolean][] = [
      [200, true],
      [204, true],
      [299, true],
      [301, true],
      [302, true],
      [304, true],
      [399, true],
      [400, false],
      [404, false],
      [500, false],
      [503, false],
    ];
    for (const [status, ok] of rows) {
      await t.step(`HTTP ${status} ${ok ? "passes" : "fails"}`, async () => {
        const url = `http://127.0.0.1:${port}/${status}`;
        const outcome = await probeHttp(url, { timeoutMs: 5_000 });
        const detail = `GET ${url} → HTTP ${status}`;
        assertEquals(
          outcome,
          ok
            ? { ok: true, answered: true, detail }
            : { ok: false, answered: true, detail, reason: `HTTP ${status}` },
        );
      });
    }
  });
});

Deno.test("probeHttp() fails with a timeout when the server hangs", async () => {
  await withServer(async (port) => {
    const url = `http://127.0.0.1:${port}/hang`;
    const outcome = await probeHttp(url, { timeoutMs: 100 });
    assertEquals(outcome, {
      ok: false,
      answered: false,
      detail: `GET ${url}: timed out after 100 ms`,
      reason: "timed out after 100 ms",
    });
  });
});

Deno.test("probeHttp() fails when the connection is refused", async () => {
  const url = `http://127.0.0.1:${closedPort()}/health`;
  const outcome = await probeHttp(url, { timeoutMs: 5_000 });
  assertEquals(outcome, {
    ok: false,
    answered: false,
    detail: `GET ${url}: connection refused`,
    reason: "connection refused",
  });
});

Deno.test("probeHttp() rejects when the caller aborts, before or during the probe", async () => {
  await withServer(async (port) => {
    await assertRejects(
      () =>
        probeHttp(`http://127.0.0.1:${port}/200`, {
          timeoutMs: 5_000,
          signal: AbortSignal.abort(new Error("gone")),
        }),
      /gone/,
    );
    const controller = new AbortController();
    const pending = probeHttp(`http://127.0.0.1:${port}/hang`, {
      timeoutMs: 60_000,
      signal: controller.signal,
    });
    controller.abort(new Error("stopped"));
    await assertRejects(() => pending, /stopped/);
  });
});

Deno.test("probeTcp() passes on a listening port and fails on a closed one", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept().then((conn) => conn.close());
    const port = listener.addr.port;
    assertEquals(
      await probeTcp("127.0.0.1", port, { timeoutMs: 5_000 }),
      {
        ok: true,
        answered: true,
        detail: `connect 127.0.0.1:${port}: connected`,
      },
    );
    await accepted;
  } finally {
    listener.close();
  }
  const closed = closedPort();
  const refused = await probeTcp("127.0.0.1", closed, { timeoutMs: 5_000 });
  assertEquals(refused, {
    ok: false,
    answered: false,
    detail: `connect 127.0.0.1:${closed}: connection refused`,
    reason: "connection refused",
  });
});

Deno.test("probeTcp() rejects when the caller has aborted", async () => {
  await assertRejects(
    () =>
      probeTcp("127.0.0.1", closedPort(), {
        timeoutMs: 5_000,
        signal: AbortSignal.abort(new Error("gone")),
      }),
    /gone/,
  );
});

Deno.test("probeTarget() picks HTTP when a path is set and TCP otherwise", async (t) => {
  const base: HealthConfig = {
    intervalMs: 1,
    timeoutMs: 1,
    healthyThreshold: 1,
    unhealthyThreshold: 1,
    deadlineMs: 1,
  };
  const rows: [string, HealthConfig, string, unknown][] = [
    ["a path", { ...base, path: "/health" }, "10.0.0.2", {
      kind: "http",
      url: "http://10.0.0.2:8080/health",
    }],
    ["a path without slash", { ...base, path: "healthz" }, "10.0.0.2", {
      kind: "http",
      url: "http://10.0.0.2:8080/healthz",
    }],
    ["an IPv6 host", { ...base, path: "/h" }, "fd00::2", {
      kind: "http",
      url: "http://[fd00::2]:8080/h",
    }],
    ["no path", base, "10.0.0.2", {
      kind: "tcp",
      hostname: "10.0.0.2",
      port: 8080,
    }],
  ];
  for (const [name, config, host, expected] of rows) {
    await t.step(
      name,
      () => assertEquals(probeTarget(config, host, 8080), expected),
    );
  }
});

Deno.test("runProbe() stamps start and finish with the given clock", async () => {
  await withServer(async (port) => {
    let now = 1_000;
    const result = await runProbe({
      kind: "http",
      url: `http://127.0.0.1:${port}/200`,
    }, {
      timeoutMs: 5_000,
      nowMs: () => (now += 5),
    });
    assertEquals(result, {
      ok: true,
      answered: true,
      detail: `GET http://127.0.0.1:${port}/200 → HTTP 200`,
      startedAtMs: 1_005,
      finishedAtMs: 1_010,
    });
  });
});
