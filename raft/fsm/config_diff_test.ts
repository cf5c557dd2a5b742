import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { changedAspects, diffConfig, needsReplacement } from "./config_diff.ts";
import { config, service, task } from "./testing.ts";
import {
  FAILURE_THRESHOLD_DEFAULT,
  type ServiceConfig,
  UPDATE_DEFAULT,
} from "../../config/types.ts";

const web = service("web", {
  replicas: 2,
  env: { A: "1", B: "2" },
  health: {
    path: "/health",
    intervalMs: 5000,
    timeoutMs: 1000,
    healthyThreshold: 1,
    unhealthyThreshold: 3,
    deadlineMs: 30000,
  },
  routes: [{ host: "app.example.com", path: "/" }],
});

Deno.test("changedAspects() names each aspect a change touches", async (t) => {
  const cases: [string, Partial<ServiceConfig>, string[]][] = [
    ["nothing", {}, []],
    ["env in another key order", { env: { B: "2", A: "1" } }, []],
    ["the image", { image: "web:v2" }, ["image"]],
    ["an env value", { env: { A: "1", B: "3" } }, ["env"]],
    ["cpu", { cpu: 1 }, ["resources"]],
    ["memory", { memoryBytes: 1 }, ["resources"]],
    ["the port", { port: 9999 }, ["ports"]],
    ["the replica count", { replicas: 5 }, ["replicas"]],
    ["the health check", {
      health: {
        intervalMs: 1,
        timeoutMs: 1,
        healthyThreshold: 1,
        unhealthyThreshold: 1,
        deadlineMs: 1,
      },
    }, ["health"]],
    ["the volumes", { volumes: [{ name: "v", path: "/v", ephemeral: true }] }, [
      "volumes",
    ]],
    ["the routes", { routes: [] }, ["routes"]],
    ["the command", { command: ["sh"] }, ["command"]],
    ["the args", { args: ["-x"] }, ["command"]],
    ["the constraints", {
      constraints: [{ attribute: "node.name", operator: "==", value: "n" }],
    }, ["constraints"]],
    ["the labels", { labels: { a: "b" } }, ["labels"]],
    ["the restart policy", { restart: "never" }, ["restart"]],
    ["the stop signal", { stopSignal: "SIGINT" }, ["stop"]],
    ["image and replicas", { image: "web:v3", replicas: 1 }, [
      "image",
      "replicas",
    ]],
    ["the update block", { update: { order: "stop-first", maxParallel: 2 } }, [
      "update",
    ]],
    ["an update block equal to the default", { update: UPDATE_DEFAULT }, []],
    ["the failure threshold", {
      health: { ...web.health!, failureThreshold: 5 },
    }, ["health"]],
    ["a failure threshold equal to the default", {
      health: { ...web.health!, failureThreshold: FAILURE_THRESHOLD_DEFAULT },
    }, []],
  ];
  for (const [name, change, aspects] of cases) {
    await t.step(name, () => {
      deepStrictEqual(changedAspects(web, { ...web, ...change }), aspects);
    });
  }
});

Deno.test("diffConfig() sorts services and tasks into added, changed, removed and unchanged", () => {
  const before = config([web, service("api"), service("old")], [
    task("migrate"),
    task("gone"),
  ]);
  const after = config(
    [{ ...web, image: "web:v2" }, service("api"), service("new")],
    [task("migrate", { timeoutMs: 5 }), task("fresh")],
  );
  deepStrictEqual(diffConfig(before, after), {
    services: {
      added: ["new"],
      changed: [{ name: "web", aspects: ["image"] }],
      removed: ["old"],
      unchanged: ["api"],
    },
    tasks: {
      added: ["fresh"],
      changed: [{ name: "migrate", aspects: ["timeout"] }],
      removed: ["gone"],
      unchanged: [],
    },
  });
});

Deno.test("a change of only the update block is recorded but replaces nothing", () => {
  const before = config([web]);
  const after = config([
    { ...web, update: { order: "start-first", maxParallel: 3 } },
  ]);
  const diff = diffConfig(before, after);
  deepStrictEqual(diff.services.changed, [{
    name: "web",
    aspects: ["update"],
  }]);
  deepStrictEqual(diff.services.unchanged, []);
  strictEqual(needsReplacement(diff.services.changed[0]!), false);
  strictEqual(
    needsReplacement({ name: "web", aspects: ["update", "image"] }),
    true,
  );
});

Deno.test("needsReplacement() is false only for replica, route and update changes", () => {
  strictEqual(
    needsReplacement({ name: "web", aspects: ["replicas", "routes"] }),
    false,
  );
  strictEqual(needsReplacement({ name: "web", aspects: ["update"] }), false);
  strictEqual(
    needsReplacement({ name: "web", aspects: ["replicas", "env"] }),
    true,
  );
  strictEqual(needsReplacement({ name: "web", aspects: ["image"] }), true);
});
