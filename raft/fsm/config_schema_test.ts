/**
 * The FSM's config parser (`_schemas.ts`) on the fields added after state
 * was first written: `update` and `health.failureThreshold` are read when
 * present, checked, and optional so older state still loads.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { decodeCommand, encodeCommand } from "./codec.ts";
import { config, service } from "./testing.ts";
import type { ClusterConfig } from "../../config/types.ts";

const encoder = new TextEncoder();

const HEALTH = {
  path: "/health",
  intervalMs: 1_000,
  timeoutMs: 1_000,
  healthyThreshold: 1,
  unhealthyThreshold: 3,
  deadlineMs: 60_000,
};

function deploy(value: unknown): Uint8Array {
  return encoder.encode(
    JSON.stringify({ type: "Deploy", deployId: "d1", config: value, atMs: 1 }),
  );
}

Deno.test("the FSM's config parser keeps update and failureThreshold", () => {
  const withBoth = config([
    service("web", {
      port: 80,
      health: { ...HEALTH, failureThreshold: 5 },
      update: { order: "start-first", maxParallel: 2 },
    }),
  ]);
  const decoded = decodeCommand(
    encodeCommand({
      type: "Deploy",
      deployId: "d1",
      config: withBoth,
      atMs: 1,
    }),
  );
  strictEqual(decoded.ok, true);
  deepStrictEqual(
    decoded.ok && decoded.command.type === "Deploy" && decoded.command.config,
    withBoth,
  );
});

Deno.test("the FSM's config parser loads a config written before update and failureThreshold", () => {
  const old: ClusterConfig = config([
    service("web", { port: 80, health: HEALTH }),
  ]);
  const decoded = decodeCommand(deploy(old));
  strictEqual(decoded.ok, true);
  const web = decoded.ok && decoded.command.type === "Deploy"
    ? decoded.command.config.services.web
    : undefined;
  deepStrictEqual(web, old.services.web);
  strictEqual(web !== undefined && "update" in web, false);
});

Deno.test("the FSM's config parser refuses a bad update or failure threshold, naming the field", async (t) => {
  const rows: [string, Record<string, unknown>, string][] = [
    ["an unknown order", {
      update: { order: "sideways", maxParallel: 1 },
    }, "config.services.web.update.order"],
    ["max parallel 0", {
      update: { order: "auto", maxParallel: 0 },
    }, "config.services.web.update.maxParallel"],
    ["a fractional max parallel", {
      update: { order: "auto", maxParallel: 1.5 },
    }, "config.services.web.update.maxParallel"],
    ["an update without its order", {
      update: { maxParallel: 1 },
    }, "config.services.web.update.order"],
    ["a failure threshold of 0", {
      health: { ...HEALTH, failureThreshold: 0 },
    }, "config.services.web.health.failureThreshold"],
  ];
  for (const [name, overrides, path] of rows) {
    await t.step(name, () => {
      const web = { ...service("web", { port: 80 }), ...overrides };
      const decoded = decodeCommand(
        deploy({ services: { web }, tasks: {} }),
      );
      strictEqual(decoded.ok, false);
      strictEqual(
        !decoded.ok && decoded.rejection.message.includes(path),
        true,
        !decoded.ok ? decoded.rejection.message : "",
      );
    });
  }
});
