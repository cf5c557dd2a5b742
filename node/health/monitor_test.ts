import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { HealthConfig } from "../../config/types.ts";
import { HealthMonitor } from "./monitor.ts";
import type { HealthState, HealthTransition } from "./tracker.ts";

/** Rejects if `promise` has not settled within `ms` (a test deadline, not a timing). */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no result within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A server whose /health answers `failStatus` (503) `failFirst` times, then
 * 200 (or hangs on /hang).
 */
async function withHealthServer(
  failFirst: number,
  run: (port: number, hits: () => number) => Promise<void>,
  failStatus = 503,
  port = 0,
): Promise<void> {
  let count = 0;
  const release = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => {},
  }, async (request) => {
    if (new URL(request.url).pathname === "/hang") {
      await release.promise;
      return new Response(null, { status: 200 });
    }
    count += 1;
    return new Response(null, {
      status: count <= failFirst ? failStatus : 200,
    });
  });
  try {
    await run(server.addr.port, () => count);
  } finally {
    release.resolve();
    await server.shutdown();
  }
}

function recorder() {
  const transitions: HealthTransition[] = [];
  const waiters: { to: string; resolve: (s: HealthState) => void }[] = [];
  return {
    transitions,
    onTransition(transition: HealthTransition, state: HealthState) {
      transitions.push(transition);
      for (const waiter of waiters) {
        if (waiter.to === transition.to) waiter.resolve(state);
      }
    },
    reach(to: string): Promise<HealthState> {
      return new Promise((resolve) => waiters.push({ to, resolve }));
    },
  };
}

const BASE: HealthConfig = {
  path: "/health",
  intervalMs: 20,
  timeoutMs: 1_000,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  deadlineMs: 20_000,
};

Deno.test("HealthMonitor runs the first probe at once, not one interval later", async () => {
  await withHealthServer(0, async (port) => {
    const events = recorder();
    const monitor = new HealthMonitor({
      config: { ...BASE, intervalMs: 600_000, healthyThreshold: 1 },
      target: { kind: "http", url: `http://127.0.0.1:${port}/health` },
      onTransition: events.onTransition,
    });
    const state = await within(events.reach("healthy"), 5_000, "healthy");
    assertEquals(state.passes, 1);
    await monitor.stop();
  });
});

Deno.test("HealthMonitor reports healthy after failing checks turn to passing ones", async () => {
  await withHealthServer(3, async (port, hits) => {
    const events = recorder();
    const monitor = new HealthMonitor({
      // Three failures, under the threshold of four that would fail it fast.
      config: { ...BASE, failureThreshold: 4 },
      target: { kind: "http", url: `http://127.0.0.1:${port}/health` },
      onTransition: events.onTransition,
    });
    await within(events.reach("healthy"), 10_000, "healthy");
    const final = await monitor.stop();
    assertEquals(hits() >= 5, true);
    assertEquals(final.status, "healthy");
    assertEquals(events.transitions.map((t) => t.to), ["healthy"]);
  });
});

Deno.test("HealthMonitor fails an alloc that never passes within its deadline", async () => {
  await withHealthServer(Infinity, async (port) => {
    const events = recorder();
    const monitor = new HealthMonitor({
      config: { ...BASE, deadlineMs: 150, failureThreshold: 100 },
      target: { kind: "http", url: `http://127.0.0.1:${port}/health` },
      onTransition: events.onTransition,
    });
    const final = await within(monitor.done, 10_000, "done");
    assertEquals(final.status, "failed");
    assertEquals(events.transitions.length, 1);
    assertEquals(
      events.transitions[0]?.reason,
      `not healthy within 150 ms, last: GET http://127.0.0.1:${port}/health → HTTP 503`,
    );
  });
});

const { path: _path, ...TCP_CONFIG } = BASE;

Deno.test("HealthMonitor uses TCP without a path and stops cleanly", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    const events = recorder();
    const monitor = new HealthMonitor({
      config: TCP_CONFIG,
      target: { kind: "tcp", hostname: "127.0.0.1", port: listener.addr.port },
      onTransition: events.onTransition,
    });
    await within(events.reach("healthy"), 10_000, "healthy");
    await monitor.stop();
  } finally {
    listener.close();
    await accepting.catch(() => {});
  }
});

Deno.test("HealthMonitor.stop() aborts a probe in flight", async () => {
  await withHealthServer(0, async (port) => {
    const monitor = new HealthMonitor({
      config: { ...BASE, timeoutMs: 600_000 },
      target: { kind: "http", url: `http://127.0.0.1:${port}/hang` },
      onTransition: () => {},
    });
    const final = await within(monitor.stop(), 5_000, "stop");
    assertEquals(final.status, "starting");
  });
});

/** A loopback port with nothing listening: bound, then closed. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("HealthMonitor fails fast on a wrong path, long before its deadline", async () => {
  await withHealthServer(Infinity, async (port, hits) => {
    const events = recorder();
    const startedAt = Date.now();
    const monitor = new HealthMonitor({
      config: { ...BASE, deadlineMs: 600_000 },
      target: { kind: "http", url: `http://127.0.0.1:${port}/health` },
      onTransition: events.onTransition,
    });
    const final = await within(monitor.done, 10_000, "done");
    assertEquals(final.status, "failed");
    assertEquals(hits(), 3);
    assertEquals(events.transitions.map((t) => t.reason), [
      `3 checks in a row failed, last: GET http://127.0.0.1:${port}/health → HTTP 404`,
    ]);
    assertEquals(Date.now() - startedAt < 600_000, true);
  }, 404);
});

Deno.test("HealthMonitor gives an app that does not answer yet its whole deadline", async () => {
  const port = closedPort();
  const events = recorder();
  const startedAt = Date.now();
  const probes: string[] = [];
  const monitor = new HealthMonitor({
    config: { ...BASE, deadlineMs: 400, failureThreshold: 1 },
    target: { kind: "http", url: `http://127.0.0.1:${port}/health` },
    onTransition: events.onTransition,
    onProbe: (result) => probes.push(result.detail),
  });
  const final = await within(monitor.done, 10_000, "done");
  assertEquals(final.status, "failed");
  assertEquals(Date.now() - startedAt >= 400, true);
  // Every probe of the 400 ms ran, not just the first.
  assertEquals(probes.length > 3, true);
  assertEquals(events.transitions.map((t) => t.reason), [
    `not healthy within 400 ms, last: GET http://127.0.0.1:${port}/health: connection refused`,
  ]);
});

Deno.test("HealthMonitor lets a slow boot become healthy once the app listens", async () => {
  const port = closedPort();
  const events = recorder();
  const monitor = new HealthMonitor({
    config: { ...BASE, failureThreshold: 1, healthyThreshold: 1 },
    target: { kind: "http", url: `http://127.0.0.1:${port}/health` },
    onTransition: events.onTransition,
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assertEquals(monitor.state.status, "starting");
  assertEquals(monitor.state.failures > 1, true);
  await withHealthServer(
    0,
    async () => {
      await within(events.reach("healthy"), 10_000, "healthy");
    },
    503,
    port,
  );
  await monitor.stop();
  assertEquals(events.transitions.map((t) => t.to), ["healthy"]);
});

Deno.test("HealthMonitor reports every probe's result to onProbe, before the transition it causes", async () => {
  await withHealthServer(2, async (port) => {
    const url = `http://127.0.0.1:${port}/health`;
    const seen: string[] = [];
    const monitor = new HealthMonitor({
      config: { ...BASE, healthyThreshold: 1 },
      target: { kind: "http", url },
      onTransition: (transition) => seen.push(`→ ${transition.to}`),
      onProbe: (result) =>
        seen.push(`${result.ok} ${result.answered} ${result.detail}`),
    });
    await within(
      new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (seen.length < 4) return;
          clearInterval(poll);
          resolve();
        }, 5);
      }),
      10_000,
      "four events",
    );
    await monitor.stop();
    assertEquals(seen.slice(0, 4), [
      `false true GET ${url} → HTTP 503`,
      `false true GET ${url} → HTTP 503`,
      `true true GET ${url} → HTTP 200`,
      "→ healthy",
    ]);
  });
});

Deno.test("HealthMonitor reports a refused TCP check as not answered", async () => {
  const port = closedPort();
  const results: { ok: boolean; answered: boolean; detail: string }[] = [];
  const monitor = new HealthMonitor({
    config: TCP_CONFIG,
    target: { kind: "tcp", hostname: "127.0.0.1", port },
    onTransition: () => {},
    onProbe: ({ ok, answered, detail }) =>
      results.push({ ok, answered, detail }),
  });
  await within(
    new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (results.length === 0) return;
        clearInterval(poll);
        resolve();
      }, 5);
    }),
    10_000,
    "a probe",
  );
  await monitor.stop();
  assertEquals(results[0], {
    ok: false,
    answered: false,
    detail: `connect 127.0.0.1:${port}: connection refused`,
  });
});
