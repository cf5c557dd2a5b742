/**
 * A dead container is never healthy: on one real node, a service killed
 * from outside is `restarting` in the cluster state (with its exit code and
 * the next attempt's time) for the whole backoff, counted as not healthy by
 * the status API, shown so by `mill ps`, and healthy again only once it
 * runs again.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { renderAllocs } from "../../cli/commands/status_tables.ts";
import { startAgentBed, waitFor } from "./_bed.ts";
import { deployByHand, startByHand } from "./_by_hand.ts";

Deno.test("a killed service is restarting, not healthy, until it runs again", async (t) => {
  const bed = await startAgentBed();
  const containerd = new ContainerdClient(bed.bed.containerd.socketPath, {
    namespace: "mill",
  });
  const status = () => bed.agent.state().allocs.get("idle-1");
  const healthyCount = async () => {
    const body = await (await bed.api("/v1/status")).json();
    return body.services.find((s: { name: string }) => s.name === "idle")
      .healthy as number;
  };
  try {
    await waitFor(
      "registration",
      () => bed.agent.state().nodes.has(bed.agent.identity.nodeId),
    );
    await deployByHand(
      bed,
      "d1",
      `service "idle" {
        image = "${bed.bed.images.sleeper}"
        replicas = 1
      }`,
    );
    await startByHand(bed, {
      allocId: "idle-1",
      name: "idle",
      kind: "service",
      image: bed.bed.images.sleeper,
      labels: { "mill.restart": "always" },
    }, AbortSignal.timeout(30_000));
    await waitFor("healthy", () => status()?.status === "healthy");
    assertEquals(await healthyCount(), 1);

    await t.step(
      "the kill makes it restarting at once, with the exit code and the next attempt",
      async () => {
        await containerd.killTask(containerIdOf("idle-1"), 9);
        await waitFor("restarting", () => status()?.status === "restarting");
        const alloc = status()!;
        assertEquals(alloc.exitCode, 137);
        assertTrue(
          /^killed by SIGKILL; next attempt in 1 s, at \d{4}-\d\d-\d\dT[\d:.]+Z$/
            .test(alloc.statusMessage),
          alloc.statusMessage,
        );
        assertEquals(await healthyCount(), 0);
        const allocs = await (await bed.api("/v1/allocs")).json();
        const lines = renderAllocs(allocs.allocs);
        assertTrue(
          lines.some((l) => l.includes("restarting (exit 137)")),
          lines.join("\n"),
        );
      },
    );

    await t.step("it is healthy again once it runs again", async () => {
      await waitFor("healthy again", () => status()?.status === "healthy");
      assertEquals(status()?.restarts, 1);
      assertEquals(await healthyCount(), 1);
    });

    await t.step(
      "through a 5 s backoff it is never healthy, and healthy after",
      async () => {
        await containerd.killTask(containerIdOf("idle-1"), 9);
        await waitFor("restarting", () => status()?.status === "restarting");
        assertTrue(status()!.statusMessage.includes("next attempt in 5 s"));
        const seen = new Set<string>();
        const until = Date.now() + 4_000;
        while (Date.now() < until) {
          seen.add(status()!.status);
          assertEquals(await healthyCount(), 0);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assertEquals([...seen], ["restarting"]);
        await waitFor("healthy again", () => status()?.status === "healthy");
        assertEquals(status()?.restarts, 2);
      },
    );
  } finally {
    containerd.close();
    await bed.stop();
  }
});
