import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { DeployRenderer, seconds } from "./deploy_progress.ts";

function phase(
  service: string,
  allocId: string,
  phaseName: string,
  extra: Record<string, unknown> = {},
) {
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

Deno.test("the deploy renderer prints seed 002's lines", async (t) => {
  const cases: {
    name: string;
    events: [string, Record<string, unknown>][];
    lines: string[];
    errors?: string[];
  }[] = [
    {
      name: "a first deploy",
      events: [
        ["start", {
          added: ["api", "web"],
          changed: [],
          removed: [],
          unchanged: [],
        }],
        ["phase", phase("web", "web-1", "scheduled", { node: "node-2" })],
        ["phase", phase("web", "web-2", "scheduled", { node: "node-3" })],
        ["phase", phase("api", "api-1", "scheduled")],
        ["phase", phase("web", "web-1", "pulling")],
        ["phase", phase("api", "api-1", "pulling")],
        ["phase", phase("web", "web-1", "healthy", { elapsedMs: 1500 })],
        ["phase", phase("web", "web-2", "healthy", { elapsedMs: 2000 })],
        ["phase", phase("api", "api-1", "healthy")],
        ["done", { elapsedMs: 4800 }],
      ],
      lines: [
        "  web: scheduled on node-2",
        "  web: scheduled on node-3",
        "  api: scheduled on node-1",
        "  pulling images...",
        "  web: healthy (2.0s)",
        "  api: healthy (1.2s)",
        "  deployed (4.8s)",
      ],
    },
    {
      name: "nothing changed",
      events: [
        ["start", { added: [], changed: [], removed: [], unchanged: ["web"] }],
        ["done", { elapsedMs: 10 }],
      ],
      lines: ["  nothing to change", "  web: unchanged", "  deployed (0.0s)"],
    },
    {
      name: "a rollback names the service, why, and its last log lines",
      events: [
        ["phase", phase("web", "web-b", "scheduled")],
        [
          "phase",
          phase("web", "web-b", "failed", {
            message: "not healthy within 2000 ms, last: HTTP 503",
          }),
        ],
        ["failed", {
          deployId: "d1",
          code: "deploy.failed",
          service: "web",
          reason: "not healthy within 2000 ms, last: HTTP 503",
          logLines: ["about to crash"],
          elapsedMs: 2500,
        }],
      ],
      lines: [
        "  web: scheduled on node-1",
        "  web: web-b failed: not healthy within 2000 ms, last: HTTP 503",
      ],
      errors: [
        "  deploy failed: web: not healthy within 2000 ms, last: HTTP 503 [deploy.failed]",
        "  rolled back (2.5s): every new alloc was stopped; the previous version keeps serving",
        "  last log lines of web:",
        "    | about to crash",
      ],
    },
    {
      name: "a refusal before anything started",
      events: [["failed", {
        deployId: null,
        code: "deploy.in_progress",
        service: null,
        reason: 'Deploy "d0" is still running',
        logLines: [],
        elapsedMs: 1,
      }]],
      lines: [],
      errors: [
        '  deploy refused: Deploy "d0" is still running [deploy.in_progress]',
      ],
    },
    {
      name: "old allocs stopped after a roll",
      events: [
        ["phase", phase("api", "api-new", "scheduled")],
        [
          "phase",
          phase("api", "api-old", "stopped", {
            message: "replaced by api-new",
          }),
        ],
      ],
      lines: [
        "  api: scheduled on node-1",
        "  api: stopped api-old (replaced by api-new)",
      ],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const renderer = new DeployRenderer({ color: false });
      const lines: string[] = [];
      const errors: string[] = [];
      for (const [event, data] of c.events) {
        const rendered = renderer.render(event, data);
        lines.push(...rendered.lines);
        errors.push(...rendered.errors);
      }
      assertEquals(lines, c.lines);
      assertEquals(errors, c.errors ?? []);
    });
  }
});

Deno.test("the progress line counts healthy allocs and busy phases", () => {
  const renderer = new DeployRenderer({ color: false });
  renderer.render("phase", phase("web", "web-1", "scheduled"));
  renderer.render("phase", phase("web", "web-2", "scheduled"));
  renderer.render("phase", phase("web", "web-1", "starting"));
  const rendered = renderer.render("phase", phase("web", "web-2", "healthy"));
  assertEquals(rendered.progress, "  [1/2 healthy] starting 1");
});

Deno.test("seconds() shows one decimal and tolerates junk", () => {
  assertEquals(seconds(4800), "4.8s");
  assertEquals(seconds("x"), "0.0s");
});
