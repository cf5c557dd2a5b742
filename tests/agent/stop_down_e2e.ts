/**
 * Taking an app down through the CLI, on a one-node cluster with a real
 * containerd and registry: `mill stop SERVICE` deploys the current config
 * without it (the other service untouched, its container gone), the next
 * `mill deploy -f` brings it back, and `mill down` deploys the empty config
 * (every container gone, the tasks' definitions too). Both refuse without
 * a terminal unless --yes. Run by stop_down_test.ts in a network namespace
 * of its own (host ports are shared otherwise).
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { isTerminal } from "../../raft/mod.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { type AgentBed, waitFor } from "./_bed.ts";
import { mill, startCliBed } from "./_cli_bed.ts";

function liveAllocs(bed: AgentBed, workload?: string) {
  return [...bed.agent.state().allocs.values()].filter((a) =>
    !isTerminal(a.status) && (workload === undefined || a.workload === workload)
  );
}

async function containerdTasks(bed: AgentBed): Promise<string[]> {
  const client = new ContainerdClient(bed.bed.containerd.socketPath, {
    namespace: "mill",
  });
  try {
    return (await client.listTasks()).map((t) => t.containerId || t.id)
      .sort();
  } finally {
    client.close();
  }
}

function appConfig(bed: AgentBed): string {
  const service = (name: string) =>
    `service "${name}" {
  image = "${bed.bed.images.http}"
  port = 8080
  cpu = 0.1
  memory = "64M"
  health {
    path = "/health"
    interval = "1s"
  }
}
`;
  return service("web") + service("api") +
    `task "hello" {\n  image = "${bed.bed.images.crash}"\n}\n`;
}

Deno.test("mill stop takes services out of the running config and mill down stops them all", async (t) => {
  const cli = await startCliBed("mill-stop-");
  const { bed, work } = cli;
  const file = `${work}/app.mill`;
  try {
    await Deno.writeTextFile(file, appConfig(bed));
    const deployed = await mill("deploy", "-f", file);
    assertEquals(deployed.code, 0, deployed.stdout + deployed.stderr);
    assertEquals(liveAllocs(bed).length, 2);

    await t.step(
      "without a terminal and without --yes, nothing is stopped",
      async () => {
        for (const args of [["stop", "web"], ["down"]]) {
          const refused = await mill(...args);
          assertEquals(refused.code, 2, refused.stderr);
          assertTrue(refused.stderr.includes("--yes"), refused.stderr);
          assertTrue(refused.stderr.includes("not a terminal"), refused.stderr);
        }
        assertEquals(liveAllocs(bed).length, 2);
        assertEquals(bed.agent.state().deploys.length, 1);
      },
    );

    await t.step(
      "an unknown service or a task is refused by name",
      async () => {
        const unknown = await mill("stop", "web", "nope", "--yes");
        assertEquals(unknown.code, 1);
        assertTrue(
          unknown.stderr.includes("service.not_found"),
          unknown.stderr,
        );
        assertTrue(
          unknown.stderr.includes('no service "nope"'),
          unknown.stderr,
        );
        assertTrue(unknown.stderr.includes('"api", "web"'), unknown.stderr);
        const task = await mill("stop", "hello", "--yes");
        assertEquals(task.code, 1);
        assertTrue(task.stderr.includes('"hello" is a task'), task.stderr);
        assertEquals(liveAllocs(bed).length, 2);
      },
    );

    await t.step("mill stop web deploys the config without web", async () => {
      const api = liveAllocs(bed, "api")[0]!;
      const web = liveAllocs(bed, "web")[0]!;
      const stopped = await mill("stop", "web", "--yes", "--json");
      assertEquals(stopped.code, 0, stopped.stdout + stopped.stderr);
      const events = stopped.stdout.trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      const start = events.find((e) => e.type === "start");
      assertEquals(start?.removed, ["web"]);
      assertEquals(start?.unchanged, ["api"]);
      assertEquals(events.at(-1)?.type, "done");
      const state = bed.agent.state();
      assertEquals(Object.keys(state.config.services), ["api"]);
      assertEquals(Object.keys(state.config.tasks), ["hello"]);
      assertEquals(state.deploys.at(-1)?.status, "succeeded");
      assertEquals(state.deploys.at(-1)?.message, 'stopped "web" (mill stop)');
      assertEquals(liveAllocs(bed, "web"), []);
      assertEquals(liveAllocs(bed, "api").map((a) => a.id), [api.id]);
      await waitFor(
        "web's container gone",
        async () =>
          !(await containerdTasks(bed)).includes(containerIdOf(web.id)),
      );
      assertEquals(await containerdTasks(bed), [containerIdOf(api.id)]);
      const status = await mill("status", "--json");
      assertEquals(
        JSON.parse(status.stdout).services.map((s: { name: string }) => s.name),
        ["api"],
      );
    });

    await t.step("the next mill deploy -f brings web back", async () => {
      const again = await mill("deploy", "-f", file);
      assertEquals(again.code, 0, again.stdout + again.stderr);
      assertEquals(
        Object.keys(bed.agent.state().config.services).sort(),
        ["api", "web"],
      );
      assertEquals(liveAllocs(bed, "web").length, 1);
      assertEquals(liveAllocs(bed, "web")[0]?.status, "healthy");
    });

    await t.step(
      "mill down deploys the empty config: every service stops, the tasks go",
      async () => {
        const down = await mill("down", "--yes");
        assertEquals(down.code, 0, down.stdout + down.stderr);
        const state = bed.agent.state();
        assertEquals(state.config.services, {});
        assertEquals(state.config.tasks, {});
        assertEquals(state.deploys.at(-1)?.status, "succeeded");
        assertEquals(
          state.deploys.at(-1)?.message,
          "every service stopped (mill down)",
        );
        assertEquals(liveAllocs(bed), []);
        await waitFor(
          "every container gone",
          async () => (await containerdTasks(bed)).length === 0,
        );
        const spawn = await mill("spawn", "hello");
        assertTrue(spawn.code !== 0, spawn.stdout);
        const deployedAgain = await mill("deploy", "-f", file);
        assertEquals(
          deployedAgain.code,
          0,
          deployedAgain.stdout + deployedAgain.stderr,
        );
        assertEquals(liveAllocs(bed).length, 2);
      },
    );
  } finally {
    await cli.stop();
  }
});
