/**
 * The deploy pipeline of seed 002 on one real node: the agent (Raft, FSM,
 * API, the containerd-backed secondary runtime) with our coordinator, on a
 * private containerd and registry with the test images. Deploys go through
 * `POST /v1/deploy` and are read back as server-sent events, then through
 * `mill deploy` and `mill spawn` in-process. Run by deploy_test.ts in a
 * network namespace of its own (host ports are shared otherwise).
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { bufferOutput, runCli } from "../../cli/mod.ts";
import { CONTEXT_PATH_ENV } from "../../cli/_api.ts";
import { createCoordinator, prepareDeploy } from "../../node/deploy/mod.ts";
import { parseConfig } from "../../config/mod.ts";
import { placementCommand, placementsOf } from "../../node/scheduler/mod.ts";
import { isTerminal } from "../../raft/mod.ts";
import { type AgentBed, startAgentBed, waitFor } from "../agent/_bed.ts";
import { type ReadEvent, readEvents } from "./_sse.ts";
import { answers, liveAllocs } from "./_allocs.ts";

function appConfig(
  bed: AgentBed,
  options: { webImage?: string; apiImage?: string; deadline?: string } = {},
): string {
  const images = bed.bed.images;
  return `
service "web" {
  image = "${options.webImage ?? images.http}"
  port = 8080
  replicas = 2
  cpu = 0.1
  memory = "64M"
  stop_grace_period = "2s"
  health {
    path = "/health"
    interval = "100ms"
    timeout = "100ms"
    deadline = "${options.deadline ?? "20s"}"
  }
  route "app.example.com" { path = "/" }
}

service "api" {
  image = "${options.apiImage ?? images.http}"
  port = 8080
  cpu = 0.1
  memory = "64M"
  stop_grace_period = "2s"
  env { DATABASE_URL = "\${secret(db.url)}" }
  health {
    interval = "100ms"
    timeout = "100ms"
  }
}

task "hello" {
  image = "${images.crash}"
  cpu = 0.1
  memory = "32M"
}
`;
}

async function deploy(
  bed: AgentBed,
  text: string,
  onEvent?: (event: ReadEvent) => void,
): Promise<{ status: number; events: ReadEvent[]; error: unknown }> {
  const response = await bed.api("/v1/deploy?file=app.mill", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: text,
  });
  if (response.status !== 200) {
    return {
      status: response.status,
      events: [],
      error: await response.json(),
    };
  }
  const events = await readEvents(response, onEvent);
  return { status: 200, events, error: null };
}

async function tagImage(from: string, to: string): Promise<void> {
  const output = await new Deno.Command("skopeo", {
    args: [
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${from}`,
      `docker://${to}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`skopeo copy: ${new TextDecoder().decode(output.stderr)}`);
  }
}

Deno.test("deploys of seed 002 on one node: first deploy, a one-service roll, a rollback and a task", async (t) => {
  const bed = await startAgentBed();
  try {
    await waitFor(
      "a leader with a coordinator",
      () =>
        (bed.agent.leader?.coordinator ?? null) !== null &&
        bed.agent.state().nodes.size === 1,
    );

    await t.step(
      "a deploy referencing a missing secret is refused before anything starts",
      async () => {
        const result = await deploy(bed, appConfig(bed));
        assertEquals(result.status, 422);
        assertEquals((result.error as { code: string }).code, "secret.missing");
        assertEquals(bed.agent.state().allocs.size, 0);
        assertEquals(bed.agent.state().deploys.length, 0);
      },
    );

    await t.step(
      "an invalid config is refused with its diagnostics",
      async () => {
        const result = await deploy(bed, 'service "web" { port = "x" }');
        assertEquals(result.status, 422);
        const error = result.error as { code: string; diagnostics: unknown[] };
        assertEquals(error.code, "config.invalid");
        assertTrue(error.diagnostics.length > 0);
      },
    );

    const set = await bed.api("/v1/secrets/db.url", {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "postgres://app:s3cret@db/app",
    });
    assertEquals(set.status, 204);

    await t.step(
      "the first deploy brings both services up healthy and answering",
      async () => {
        const { status, events } = await deploy(bed, appConfig(bed));
        assertEquals(status, 200);
        const last = events.at(-1);
        assertEquals(last?.event, "done", JSON.stringify(events.slice(-3)));
        const healthy = events.filter((e) =>
          e.event === "phase" && e.data.phase === "healthy"
        );
        assertEquals(healthy.map((e) => e.data.service).sort(), [
          "api",
          "web",
          "web",
        ]);
        const routes = events.find((e) => e.event === "routes");
        const targets = routes?.data.routes as {
          host: string;
          endpoints: unknown[];
        }[];
        assertEquals(targets.map((r) => [r.host, r.endpoints.length]), [[
          "app.example.com",
          2,
        ]]);
        for (
          const alloc of [...liveAllocs(bed, "web"), ...liveAllocs(bed, "api")]
        ) {
          assertEquals(alloc.status, "healthy");
          assertTrue(
            alloc.hostPort !== null && await answers(alloc.hostPort),
            `${alloc.id} answers`,
          );
        }
        assertEquals(bed.agent.state().deploys.at(-1)?.status, "succeeded");
      },
    );

    await t.step(
      "a second deploy with one changed image rolls only that service",
      async () => {
        const webBefore = liveAllocs(bed, "web").map((a) => a.id);
        const apiBefore = liveAllocs(bed, "api").map((a) => a.id);
        const v2 = bed.bed.images.http.replace(/:1$/, ":2");
        await tagImage(bed.bed.images.http, v2);
        const { events } = await deploy(bed, appConfig(bed, { apiImage: v2 }));
        assertEquals(
          events.at(-1)?.event,
          "done",
          JSON.stringify(events.slice(-3)),
        );
        const start = events.find((e) => e.event === "start");
        assertEquals(start?.data.changed, ["api"]);
        assertEquals(start?.data.unchanged, ["web"]);
        assertEquals(liveAllocs(bed, "web").map((a) => a.id), webBefore);
        const apiAfter = liveAllocs(bed, "api");
        assertEquals(apiAfter.length, 1);
        assertTrue(!apiBefore.includes(apiAfter[0]!.id));
        assertEquals(apiAfter[0]!.image, v2);
        assertEquals(
          bed.agent.state().allocs.get(apiBefore[0]!)?.status,
          "stopped",
        );
        assertTrue(await answers(apiAfter[0]!.hostPort!));
      },
    );

    await t.step(
      "a broken image rolls back while the old version keeps answering",
      async () => {
        const old = liveAllocs(bed, "web");
        const ports = old.map((a) => a.hostPort!);
        assertEquals(ports.length, 2);
        let probes = 0;
        let misses = 0;
        let deploying = true;
        const prober = (async () => {
          while (deploying) {
            for (const port of ports) {
              probes++;
              if (!await answers(port)) misses++;
            }
          }
        })();
        const { events } = await deploy(
          bed,
          appConfig(bed, {
            webImage: bed.bed.images.crash,
            deadline: "2s",
            apiImage: bed.bed.images.http.replace(/:1$/, ":2"),
          }),
        );
        deploying = false;
        await prober;
        const failed = events.at(-1);
        assertEquals(failed?.event, "failed", JSON.stringify(events.slice(-3)));
        assertEquals(failed?.data.code, "deploy.failed");
        assertEquals(failed?.data.service, "web");
        assertTrue(
          String(failed?.data.reason).includes("not healthy within 2000 ms"),
        );
        const logLines = failed?.data.logLines as string[];
        assertTrue(
          logLines.includes("about to crash"),
          JSON.stringify(logLines),
        );
        assertTrue(probes > 0);
        assertEquals(misses, 0);
        assertEquals(
          liveAllocs(bed, "web").map((a) => a.id),
          old.map((a) => a.id),
        );
        for (const alloc of liveAllocs(bed, "web")) {
          assertEquals(alloc.status, "healthy");
        }
        const record = bed.agent.state().deploys.at(-1);
        assertEquals(record?.status, "rolled_back");
        assertEquals(
          bed.agent.state().config.services.web?.image,
          bed.bed.images.http,
        );
        for (const alloc of bed.agent.state().allocs.values()) {
          if (alloc.deployId === record?.id) {
            assertTrue(isTerminal(alloc.status), alloc.id);
          }
        }
      },
    );

    await t.step(
      "a new leader rolls back a deploy cut short mid-start and leaves nothing running",
      async () => {
        const leader = bed.agent.leader!;
        const context = leader.deployContext();
        const oldWeb = liveAllocs(bed, "web").map((a) => a.id);
        const v2 = bed.bed.images.http.replace(/:1$/, ":2");
        const parsed = parseConfig(
          appConfig(bed, { apiImage: v2, webImage: v2 }),
          "cut.mill",
        );
        assertTrue(parsed.ok);
        if (!parsed.ok) return;
        const prepared = prepareDeploy(context.state(), parsed.config, "cut");
        assertTrue("plan" in prepared, String(prepared));
        if (!("plan" in prepared)) return;
        // The old leader committed the deploy and one placement, started its
        // container, and died.
        const placement = placementsOf(prepared.plan)[0]!;
        const commit = async (
          command: Parameters<typeof context.commit>[0],
        ) => {
          const result = await context.commit(command);
          assertTrue(result.ok, JSON.stringify(result));
        };
        await commit({
          type: "Deploy",
          deployId: "cut",
          config: parsed.config,
          atMs: Date.now(),
        });
        await commit(
          placementCommand(placement, { atMs: Date.now(), deployId: "cut" }),
        );
        await commit({
          type: "AllocStatus",
          allocId: placement.allocId,
          status: "starting",
          atMs: Date.now(),
        });
        const runtime = context.runtime(placement.nodeId);
        await runtime.start({
          allocId: placement.allocId,
          name: "web",
          kind: "service",
          image: v2,
          env: {},
          secretValues: {},
          cpu: 0.1,
          memoryBytes: 64 * 1024 * 1024,
          hostPort: placement.hostPort!,
          containerPort: 8080,
          labels: { "mill.restart": "always" },
          stopSignal: "SIGTERM",
          stopGracePeriodMs: 2_000,
        }, AbortSignal.timeout(30_000));
        await waitFor(
          "the half-deployed container answering",
          () => answers(placement.hostPort!),
        );

        const successor = createCoordinator(context);
        try {
          await successor.recoverInFlight();
        } finally {
          await successor.close();
        }
        const state = bed.agent.state();
        assertEquals(state.deploys.at(-1)?.id, "cut");
        assertEquals(state.deploys.at(-1)?.status, "rolled_back");
        assertEquals(state.config.services.web?.image, bed.bed.images.http);
        assertEquals(state.allocs.get(placement.allocId)?.status, "stopped");
        const status = await runtime.status(
          { allocIds: [placement.allocId] },
          AbortSignal.timeout(10_000),
        );
        assertEquals(status.allocs[0]?.state, "unknown");
        assertEquals(liveAllocs(bed, "web").map((a) => a.id), oldWeb);
        for (const id of oldWeb) {
          assertEquals(state.allocs.get(id)?.status, "healthy");
        }
        for (const alloc of state.allocs.values()) {
          assertTrue(
            alloc.status !== "pulling" && alloc.status !== "starting",
            alloc.id,
          );
        }
      },
    );

    await t.step(
      "a spawned task streams its output and reports its exit code",
      async () => {
        const response = await bed.api("/v1/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ task: "hello" }),
        });
        assertEquals(response.status, 200);
        const events = await readEvents(response);
        const output = events.filter((e) => e.event === "output").map((e) =>
          e.data.line
        );
        assertTrue(
          output.includes("about to crash") && output.includes("oops"),
          JSON.stringify(output),
        );
        const exit = events.at(-1);
        assertEquals(exit?.event, "exit");
        assertEquals(exit?.data.exitCode, 3);
        const alloc = bed.agent.state().allocs.get(String(exit?.data.allocId));
        assertEquals(alloc?.status, "failed");
        assertEquals(alloc?.exitCode, 3);
      },
    );

    await t.step(
      "mill deploy and mill spawn print the events and exit with the outcome",
      async () => {
        const previous = Deno.env.get(CONTEXT_PATH_ENV);
        Deno.env.set(CONTEXT_PATH_ENV, bed.contextPath);
        const dir = await Deno.makeTempDir({ prefix: "mill-deploy-cli-" });
        try {
          const mill = async (...args: string[]) => {
            const output = bufferOutput();
            const code = await runCli(args, output);
            return { code, stdout: output.stdout(), stderr: output.stderr() };
          };
          const v2 = bed.bed.images.http.replace(/:1$/, ":2");
          await Deno.writeTextFile(
            `${dir}/app.mill`,
            appConfig(bed, { apiImage: v2 }),
          );
          const same = await mill("deploy", "-f", `${dir}/app.mill`);
          assertEquals(same.code, 0, same.stderr);
          assertTrue(
            same.stdout.includes("  nothing to change\n"),
            same.stdout,
          );
          assertTrue(
            / {2}deployed \(\d+\.\d+s\)\n$/.test(same.stdout),
            same.stdout,
          );

          await Deno.writeTextFile(
            `${dir}/broken.mill`,
            appConfig(bed, {
              apiImage: v2,
              webImage: bed.bed.images.crash,
              deadline: "1s",
            }),
          );
          const broken = await mill("deploy", "-f", `${dir}/broken.mill`);
          assertEquals(broken.code, 1);
          assertTrue(
            / {2}web: web-\S+ scheduled on node-1/.test(broken.stdout),
            broken.stdout,
          );
          assertTrue(
            broken.stderr.includes(
              "deploy failed: web: not healthy within 1000 ms",
            ),
            broken.stderr,
          );
          assertTrue(
            broken.stderr.includes("    | about to crash"),
            broken.stderr,
          );

          const json = await mill("deploy", "-f", `${dir}/app.mill`, "--json");
          assertEquals(json.code, 0, json.stderr);
          const types = json.stdout.trim().split("\n").map((l) =>
            JSON.parse(l).type
          );
          assertEquals(types.at(0), "start");
          assertEquals(types.at(-1), "done");

          const spawned = await mill("spawn", "hello");
          assertEquals(spawned.code, 3, spawned.stderr);
          assertTrue(spawned.stdout.includes("about to crash"), spawned.stdout);
          assertTrue(spawned.stderr.includes("oops"), spawned.stderr);
          const unknown = await mill("spawn", "nope");
          assertEquals(unknown.code, 125);
          assertTrue(unknown.stderr.includes("task.unknown"), unknown.stderr);
        } finally {
          if (previous === undefined) Deno.env.delete(CONTEXT_PATH_ENV);
          else Deno.env.set(CONTEXT_PATH_ENV, previous);
          await Deno.remove(dir, { recursive: true });
        }
      },
    );

    await t.step(
      "spawning an unknown task fails with task.unknown",
      async () => {
        const response = await bed.api("/v1/tasks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ task: "nope" }),
        });
        const events = await readEvents(response);
        assertEquals(events.at(-1)?.data.code, "task.unknown");
      },
    );
  } finally {
    await bed.stop();
  }
});
