/** The RPC frame over real HTTP on loopback, with an in-test runtime. */
import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import { RpcClient } from "./client.ts";
import { RpcError } from "./errors.ts";
import { type RpcServer, startRpcServer } from "./server.ts";
import type {
  LogLine,
  LogsRequest,
  LogsResult,
  MetricsResult,
  PullRequest,
  PullResult,
  SecondaryRuntime,
  StartRequest,
  StartResult,
  StatusResult,
  StopRequest,
  StopResult,
} from "./types.ts";

/** Rejects if `promise` has not settled within `ms` (a deadline, not a timing). */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: nothing within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const TOKEN = "cluster-rpc-token-for-tests-0123456789abcdef";

/** An in-memory runtime: real behaviour on in-memory state, and a few trap images. */
class MemoryRuntime implements SecondaryRuntime {
  readonly images = new Set<string>();
  readonly running = new Map<string, { startedAtMs: number }>();
  readonly logLines: LogLine[] = [];
  readonly aborted: string[] = [];
  readonly #abortWaiters: { count: number; resolve: () => void }[] = [];

  /** Settles once `count` runtime calls saw their signal abort. */
  whenAborted(count: number): Promise<void> {
    if (this.aborted.length >= count) return Promise.resolve();
    return new Promise((resolve) =>
      this.#abortWaiters.push({ count, resolve })
    );
  }
  readonly #held: (() => void)[] = [];
  readonly #heldWaiters: { count: number; resolve: () => void }[] = [];

  release(): void {
    for (const resolve of this.#held.splice(0)) resolve();
  }

  /** Settles once `count` "hold/" pulls are waiting inside the runtime. */
  whenHeld(count: number): Promise<void> {
    if (this.#held.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#heldWaiters.push({ count, resolve }));
  }

  async pull(request: PullRequest, signal: AbortSignal): Promise<PullResult> {
    if (request.image.startsWith("missing/")) {
      throw new RpcError(
        "runtime.image_not_found",
        `Image "${request.image}" not found`,
      );
    }
    if (request.image.startsWith("crash/")) {
      throw new Error("boom: internal detail");
    }
    if (request.image.startsWith("bad/")) {
      return { image: request.image, digest: 42 } as unknown as PullResult;
    }
    if (request.image.startsWith("hold/")) {
      await new Promise<void>((resolve) => {
        this.#held.push(resolve);
        for (const waiter of this.#heldWaiters) {
          if (this.#held.length >= waiter.count) waiter.resolve();
        }
        signal.addEventListener("abort", () => {
          this.aborted.push(request.image);
          for (const waiter of this.#abortWaiters) {
            if (this.aborted.length >= waiter.count) waiter.resolve();
          }
          resolve();
        }, { once: true });
      });
    }
    const cached = this.images.has(request.image);
    this.images.add(request.image);
    const digest = new Uint8Array(
      await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(request.image),
      ),
    );
    return { image: request.image, digest: `sha256:${digest.toHex()}`, cached };
  }

  start(request: StartRequest): Promise<StartResult> {
    this.running.set(request.allocId, { startedAtMs: 1_000 });
    this.logLines.push({
      seq: this.logLines.length + 1,
      timeMs: 1_000,
      stream: "stdout",
      line: `started ${request.name}`,
    });
    return Promise.resolve({
      allocId: request.allocId,
      containerId: `c-${request.allocId}`,
      startedAtMs: 1_000,
    });
  }

  stop(request: StopRequest): Promise<StopResult> {
    const was = this.running.delete(request.allocId);
    return Promise.resolve({
      allocId: request.allocId,
      exit: was ? { kind: "stopped" } : null,
    });
  }

  status(): Promise<StatusResult> {
    return Promise.resolve({
      allocs: [...this.running].map(([allocId, r]) => ({
        allocId,
        state: "running",
        startedAtMs: r.startedAtMs,
        exit: null,
      })),
    });
  }

  logs(request: LogsRequest): Promise<LogsResult> {
    const after = request.afterSeq ?? 0;
    const lines = this.logLines.filter((l) => l.seq > after).slice(
      -request.tailLines,
    );
    return Promise.resolve({
      allocId: request.allocId,
      lines,
      lastSeq: this.logLines.length,
    });
  }

  metrics(): Promise<MetricsResult> {
    return Promise.resolve({
      atMs: 2_000,
      allocs: [...this.running.keys()].map((allocId) => ({
        allocId,
        cpuUsageNs: 250_000_000,
        memoryUsageBytes: 1_048_576,
        memoryLimitBytes: 1 << 29,
        pids: 3,
      })),
    });
  }
}

interface Setup {
  readonly runtime: MemoryRuntime;
  readonly server: RpcServer;
  readonly client: RpcClient;
  readonly url: string;
  readonly errors: unknown[];
}

async function withRpc(
  run: (s: Setup) => Promise<void>,
  options: { inFlightMax?: number; clientInFlightMax?: number } = {},
): Promise<void> {
  const runtime = new MemoryRuntime();
  const errors: unknown[] = [];
  const server = await startRpcServer({
    hostname: "127.0.0.1",
    port: 0,
    token: TOKEN,
    runtime,
    onError: (error) => errors.push(error),
    ...(options.inFlightMax === undefined
      ? {}
      : { inFlightMax: options.inFlightMax }),
  });
  const url = `http://127.0.0.1:${server.port}`;
  const client = new RpcClient(url, {
    token: TOKEN,
    ...(options.clientInFlightMax === undefined
      ? {}
      : { inFlightMax: options.clientInFlightMax }),
  });
  try {
    await run({ runtime, server, client, url, errors });
  } finally {
    runtime.release();
    client.close();
    await server.shutdown();
  }
}

function isRpcError(code: string, status: number | null) {
  return (err: unknown) =>
    err instanceof RpcError && err.code === code && err.status === status;
}

const START: StartRequest = {
  allocId: "web-1",
  name: "web",
  kind: "service",
  image: "registry.local/web:v1",
  env: { URL: "${secret(db.url)}" },
  secretValues: { "db.url": "pg://u:hunter2@db/app" },
  cpu: 0.5,
  memoryBytes: 1 << 29,
  labels: {},
  stopSignal: "SIGTERM",
  stopGracePeriodMs: 10_000,
};

Deno.test("RpcClient carries every SecondaryRuntime call to the node and back", async () => {
  await withRpc(async ({ client }) => {
    const first = await client.pull({ image: "registry.local/web:v1" });
    assertEquals(first.cached, false);
    assertEquals(first.digest.startsWith("sha256:"), true);
    assertEquals(
      (await client.pull({ image: "registry.local/web:v1" })).cached,
      true,
    );
    assertEquals(await client.start(START), {
      allocId: "web-1",
      containerId: "c-web-1",
      startedAtMs: 1_000,
    });
    assertEquals(await client.status({}), {
      allocs: [{
        allocId: "web-1",
        state: "running",
        startedAtMs: 1_000,
        exit: null,
      }],
    });
    assertEquals(await client.logs({ allocId: "web-1", tailLines: 10 }), {
      allocId: "web-1",
      lines: [{ seq: 1, timeMs: 1_000, stream: "stdout", line: "started web" }],
      lastSeq: 1,
    });
    assertEquals((await client.metrics({})).allocs, [{
      allocId: "web-1",
      cpuUsageNs: 250_000_000,
      memoryUsageBytes: 1_048_576,
      memoryLimitBytes: 1 << 29,
      pids: 3,
    }]);
    assertEquals(
      await client.stop({
        allocId: "web-1",
        signal: "SIGTERM",
        gracePeriodMs: 1_000,
      }),
      {
        allocId: "web-1",
        exit: { kind: "stopped" },
      },
    );
    assertEquals(
      (await client.stop({
        allocId: "web-1",
        signal: "SIGTERM",
        gracePeriodMs: 1_000,
      })).exit,
      null,
    );
  });
});

Deno.test("RpcClient passes a runtime's own error code through unchanged", async () => {
  await withRpc(async ({ client }) => {
    await assertRejects(
      () => client.pull({ image: "missing/app:v1" }),
      isRpcError("runtime.image_not_found", 422),
    );
  });
});

Deno.test("the RPC server hides unexpected errors and checks its runtime's answers", async () => {
  await withRpc(async ({ client, errors }) => {
    await assertRejects(
      () => client.pull({ image: "crash/x" }),
      (err: unknown) => {
        return isRpcError("rpc.internal", 500)(err) &&
          !(err as Error).message.includes("internal detail");
      },
    );
    await assertRejects(
      () => client.pull({ image: "bad/x" }),
      isRpcError("rpc.internal", 500),
    );
    assertEquals(errors.length, 2);
  });
});

Deno.test("a malformed start is refused naming the field, never a secret value", async () => {
  await withRpc(async ({ client, errors }) => {
    await assertRejects(
      () =>
        client.start({
          ...START,
          secretValues: { "db.url": "hunter2".repeat(10_000) },
        }),
      (err: unknown) =>
        isRpcError("rpc.bad_request", 400)(err) &&
        (err as Error).message.includes("secretValues") &&
        !(err as Error).message.includes("hunter2"),
    );
    assertEquals(errors, []);
  });
});

Deno.test("the RPC server refuses bad calls with typed errors", async (t) => {
  await withRpc(async ({ url }) => {
    const rows: [string, string, RequestInit, number, string][] = [
      [
        "no token",
        "/rpc/v1/pull",
        { method: "POST", body: "{}" },
        401,
        "api.unauthenticated",
      ],
      [
        "a wrong token",
        "/rpc/v1/pull",
        {
          method: "POST",
          body: "{}",
          headers: { authorization: "Bearer nope" },
        },
        401,
        "api.unauthenticated",
      ],
      [
        "an unknown method",
        "/rpc/v1/format",
        { method: "POST", body: "{}" },
        404,
        "rpc.not_found",
      ],
      [
        "a GET",
        "/rpc/v1/pull",
        { method: "GET" },
        405,
        "api.method_not_allowed",
      ],
      [
        "a body that is not JSON",
        "/rpc/v1/pull",
        { method: "POST", body: "{" },
        400,
        "api.invalid_json",
      ],
      [
        "a wrong content type",
        "/rpc/v1/pull",
        {
          method: "POST",
          body: "{}",
          headers: { "content-type": "text/plain" },
        },
        415,
        "api.unsupported_media_type",
      ],
      [
        "a malformed request",
        "/rpc/v1/pull",
        { method: "POST", body: '{"image":7}' },
        400,
        "rpc.bad_request",
      ],
      [
        "a bad deadline",
        "/rpc/v1/pull",
        {
          method: "POST",
          body: '{"image":"a"}',
          headers: { "x-mill-deadline-ms": "soon" },
        },
        400,
        "rpc.bad_request",
      ],
    ];
    for (const [name, path, init, status, code] of rows) {
      await t.step(name, async () => {
        const headers = new Headers(init.headers);
        if (!headers.has("authorization") && name !== "no token") {
          headers.set("authorization", `Bearer ${TOKEN}`);
        }
        if (!headers.has("content-type")) {
          headers.set("content-type", "application/json");
        }
        const response = await fetch(`${url}${path}`, { ...init, headers });
        assertEquals([response.status, (await response.json()).code], [
          status,
          code,
        ]);
      });
    }
  });
});

Deno.test("an RPC call past its deadline fails and aborts the runtime's work", async () => {
  await withRpc(async ({ client, runtime }) => {
    await assertRejects(
      () => client.call("pull", { image: "hold/slow:v1" }, { deadlineMs: 100 }),
      (err: unknown) =>
        err instanceof RpcError && err.code === "rpc.deadline_exceeded",
    );
    await within(runtime.whenAborted(1), 5_000, "runtime aborted");
    assertEquals(runtime.aborted, ["hold/slow:v1"]);
  });
});

Deno.test("the RPC server bounds calls in flight and frees the slots", async () => {
  await withRpc(async ({ client, runtime, server }) => {
    const held = [
      client.pull({ image: "hold/a" }),
      client.pull({ image: "hold/b" }),
    ];
    await within(runtime.whenHeld(2), 5_000, "two calls held");
    assertEquals(server.inFlight, 2);
    await assertRejects(
      () => client.pull({ image: "registry.local/c" }),
      isRpcError("rpc.overloaded", 503),
    );
    runtime.release();
    assertEquals((await Promise.all(held)).map((r) => r.image), [
      "hold/a",
      "hold/b",
    ]);
    assertEquals(
      (await client.pull({ image: "registry.local/c" })).image,
      "registry.local/c",
    );
    assertEquals(server.inFlight, 0);
  }, { inFlightMax: 2 });
});

Deno.test("RpcClient bounds its own calls in flight", async () => {
  await withRpc(async ({ client, runtime }) => {
    const held = client.pull({ image: "hold/a" });
    await assertRejects(
      () => client.pull({ image: "x" }),
      isRpcError("rpc.overloaded", null),
    );
    await within(runtime.whenHeld(1), 5_000, "call held");
    runtime.release();
    await held;
    assertEquals(client.inFlight, 0);
  }, { clientInFlightMax: 1 });
});

Deno.test("RpcClient rejects with the caller's reason when the caller aborts", async () => {
  await withRpc(async ({ client, runtime }) => {
    const controller = new AbortController();
    const pending = client.pull({ image: "hold/a" }, controller.signal);
    await within(runtime.whenHeld(1), 5_000, "call held");
    controller.abort(new Error("deploy cancelled"));
    await assertRejects(() => pending, /deploy cancelled/);
    // The server saw the caller leave: the runtime's signal aborted.
    await within(runtime.whenAborted(1), 5_000, "runtime aborted");
    assertEquals(runtime.aborted, ["hold/a"]);
  });
});

Deno.test("RpcClient reports an unreachable node", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = new RpcClient(`http://127.0.0.1:${port}`, { token: TOKEN });
  try {
    await assertRejects(
      () => client.pull({ image: "a" }),
      isRpcError("rpc.unreachable", null),
    );
  } finally {
    client.close();
  }
});
