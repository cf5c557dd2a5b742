import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { DeployEvent } from "../node/deploy/events.ts";
import { DeployRenderer, seconds } from "./deploy_progress.ts";

type Phase = Extract<DeployEvent, { type: "phase" }>;
type Start = Extract<DeployEvent, { type: "start" }>;
type Failed = Extract<DeployEvent, { type: "failed" }>;

/** A `phase` event as the deploy sends it. */
function phase(
  service: string,
  allocId: string,
  phaseName: Phase["phase"],
  extra: Partial<Phase> = {},
): Phase {
  return {
    type: "phase",
    service,
    allocId,
    node: "node-1",
    phase: phaseName,
    message: "",
    elapsedMs: 1200,
    ...extra,
  };
}

/** A `start` event: services by default, `tasks` when given. */
function start(
  services: Partial<Pick<Start, "added" | "changed" | "removed" | "unchanged">>,
  tasks: Partial<Start["tasks"]> = {},
): Start {
  return {
    type: "start",
    deployId: "d2",
    added: [],
    changed: [],
    removed: [],
    unchanged: [],
    ...services,
    tasks: { added: [], changed: [], removed: [], ...tasks },
    elapsedMs: 3,
  };
}

function failed(extra: Partial<Failed>): Failed {
  return {
    type: "failed",
    deployId: "d2",
    code: "deploy.unhealthy",
    service: "web",
    reason: "",
    logLines: [],
    previousServing: true,
    elapsedMs: 2500,
    ...extra,
  };
}

const URL = "http://10.0.0.2:20001/health";

interface Case {
  readonly name: string;
  readonly events: readonly DeployEvent[];
  readonly lines: readonly string[];
  readonly errors?: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: "a first deploy names each replica and its node",
    events: [
      start({ added: ["api", "web"] }),
      phase("web", "web-d1-0", "scheduled", { node: "node-2" }),
      phase("web", "web-d1-1", "scheduled", { node: "node-3" }),
      phase("api", "api-d1-0", "scheduled"),
      phase("web", "web-d1-0", "pulling", { message: "web:v1" }),
      phase("api", "api-d1-0", "pulling", { message: "api:v1" }),
      phase("web", "web-d1-0", "healthy", { elapsedMs: 1500 }),
      phase("web", "web-d1-1", "healthy", { elapsedMs: 2000 }),
      phase("api", "api-d1-0", "healthy"),
      { type: "done", deployId: "d1", elapsedMs: 4800 },
    ],
    lines: [
      "  web: web-d1-0 scheduled on node-2",
      "  web: web-d1-1 scheduled on node-3",
      "  api: api-d1-0 scheduled on node-1",
      "  pulling images...",
      "  web: healthy (2.0s)",
      "  api: healthy (1.2s)",
      "  deployed (4.8s)",
    ],
  },
  {
    name: "nothing changed",
    events: [
      start({ unchanged: ["web"] }),
      { type: "done", deployId: "d2", elapsedMs: 10 },
    ],
    lines: ["  nothing to change", "  web: unchanged", "  deployed (0.0s)"],
  },
  {
    name: "adding only tasks is a change, and the tasks are shown",
    events: [
      start({ unchanged: ["web"] }, {
        added: ["migrate"],
        changed: ["backup"],
        removed: ["seed"],
      }),
      { type: "done", deployId: "d2", elapsedMs: 10 },
    ],
    lines: [
      "  web: unchanged",
      "  task migrate: added (runs when spawned)",
      "  task backup: changed (runs when spawned)",
      "  task seed: removed",
      "  deployed (0.0s)",
    ],
  },
  {
    name: "a rolling update shows who waits for its turn",
    events: [
      start({ changed: ["web"] }),
      phase("web", "web-d2-0", "scheduled", {
        node: "node-2",
        message: "replaces web-d1-0",
      }),
      phase("web", "web-d2-1", "waiting", {
        node: "node-3",
        message: "wave 2",
      }),
      phase("web", "web-d2-0", "healthy"),
      phase("web", "web-d1-0", "stopped", {
        node: "node-2",
        message: "replaced by web-d2-0",
      }),
      phase("web", "web-d2-1", "scheduled", { node: "node-3" }),
      phase("web", "web-d2-1", "healthy", { elapsedMs: 3100 }),
    ],
    lines: [
      "  web: web-d2-0 scheduled on node-2 (replaces web-d1-0)",
      "  web: web-d2-1 on node-3 waits its turn (wave 2)",
      "  web: stopped web-d1-0 on node-2 (replaced by web-d2-0)",
      "  web: web-d2-1 scheduled on node-3",
      "  web: healthy (3.1s)",
    ],
  },
  {
    name:
      "a health check's result is printed when it changes, not every interval",
    events: [
      phase("web", "web-d2-0", "scheduled"),
      phase("web", "web-d2-1", "scheduled", { node: "node-2" }),
      phase("web", "web-d2-0", "checking", {
        message: `GET ${URL}: connection refused`,
      }),
      phase("web", "web-d2-0", "checking", {
        message: `GET ${URL}: connection refused`,
      }),
      phase("web", "web-d2-1", "checking", {
        node: "node-2",
        message: `GET ${URL}: connection refused`,
      }),
      phase("web", "web-d2-0", "checking", {
        message: `GET ${URL} → HTTP 503`,
      }),
      phase("web", "web-d2-0", "checking", {
        message: `GET ${URL} → HTTP 503`,
      }),
      phase("web", "web-d2-0", "checking", { message: "" }),
    ],
    lines: [
      "  web: web-d2-0 scheduled on node-1",
      "  web: web-d2-1 scheduled on node-2",
      `  web: web-d2-0 on node-1 checking: GET ${URL}: connection refused`,
      `  web: web-d2-1 on node-2 checking: GET ${URL}: connection refused`,
      `  web: web-d2-0 on node-1 checking: GET ${URL} → HTTP 503`,
    ],
  },
  {
    name: "a rollback names the service, why, and its last log lines",
    events: [
      phase("web", "web-d2-0", "scheduled"),
      phase("web", "web-d2-0", "failed", {
        message: `3 checks in a row failed, last: GET ${URL} → HTTP 404`,
      }),
      failed({
        reason: `3 checks in a row failed, last: GET ${URL} → HTTP 404`,
        logLines: ["about to crash"],
      }),
    ],
    lines: [
      "  web: web-d2-0 scheduled on node-1",
      `  web: web-d2-0 on node-1 failed: 3 checks in a row failed, last: GET ${URL} → HTTP 404`,
    ],
    errors: [
      `  deploy failed: web: 3 checks in a row failed, last: GET ${URL} → HTTP 404 [deploy.unhealthy]`,
      "  rolled back (2.5s): every new alloc was stopped; the previous version keeps serving",
      "  last log lines of web:",
      "    | about to crash",
    ],
  },
  {
    name: "a rolled-back first deploy does not promise a previous version",
    events: [
      failed({
        deployId: "d1",
        reason: `not healthy within 60000 ms, last: GET ${URL} → HTTP 503`,
        previousServing: false,
      }),
    ],
    lines: [],
    errors: [
      `  deploy failed: web: not healthy within 60000 ms, last: GET ${URL} → HTTP 503 [deploy.unhealthy]`,
      "  rolled back (2.5s): every new alloc was stopped; nothing was serving before this deploy",
    ],
  },
  {
    name: "a refusal before anything started",
    events: [failed({
      deployId: null,
      code: "deploy.in_progress",
      service: null,
      reason: 'Deploy "d0" is still running',
      previousServing: true,
      elapsedMs: 1,
    })],
    lines: [],
    errors: [
      '  deploy refused: Deploy "d0" is still running [deploy.in_progress]',
    ],
  },
];

Deno.test("the deploy renderer prints one line per event worth one", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => {
      const renderer = new DeployRenderer({ color: false });
      const lines: string[] = [];
      const errors: string[] = [];
      for (const event of c.events) {
        const rendered = renderer.render(event.type, event);
        lines.push(...rendered.lines);
        errors.push(...rendered.errors);
      }
      assertEquals(lines, c.lines);
      assertEquals(errors, c.errors ?? []);
    });
  }
});

Deno.test("the progress line counts healthy allocs and busy phases, waiting and checking too", () => {
  const renderer = new DeployRenderer({ color: false });
  renderer.render("phase", phase("web", "web-d2-0", "scheduled"));
  renderer.render("phase", phase("web", "web-d2-1", "scheduled"));
  renderer.render("phase", phase("web", "web-d2-2", "waiting"));
  renderer.render("phase", phase("web", "web-d2-3", "scheduled"));
  renderer.render("phase", phase("web", "web-d2-0", "starting"));
  renderer.render(
    "phase",
    phase("web", "web-d2-3", "checking", { message: "GET … → HTTP 503" }),
  );
  const rendered = renderer.render(
    "phase",
    phase("web", "web-d2-1", "healthy"),
  );
  assertEquals(
    rendered.progress,
    "  [1/4 healthy] waiting 1 · starting 1 · checking 1",
  );
});

Deno.test("seconds() shows one decimal and tolerates junk", () => {
  assertEquals(seconds(4800), "4.8s");
  assertEquals(seconds("x"), "0.0s");
});
