/**
 * Ephemeral volumes on one real node: the config's `volume { ephemeral =
 * true }` reaches the node in the start request, is mounted at its path
 * (bounded by its size: a write past it fails), survives a restart of the
 * container and goes when the alloc is stopped, fails, or is found
 * orphaned by an agent that starts after a crash.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { startRequestOf } from "../../node/deploy/_start_request.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { mountPoints } from "../../node/secondary/scratch_volumes.ts";
import type { ServiceConfig } from "../../config/mod.ts";
import { type AgentBed, startAgentBed, waitFor } from "./_bed.ts";
import { deployByHand, linesOf } from "./_by_hand.ts";

const MIB = 1024 * 1024;

/** Counts its runs in the volume; the first run also writes 16 MiB into 8. */
const SCRIPT = [
  "n=$(cat /var/cache/api/runs 2>/dev/null || echo 0)",
  "n=$((n+1))",
  "echo $n > /var/cache/api/runs",
  "echo run $n",
  "case $n in 1) head -c 16777216 /dev/zero > /var/cache/api/big; echo big-exit $?; wc -c < /var/cache/api/big;; esac",
  "echo scratch > /scratch/x && echo scratch-ok",
  "exec sleep 3600",
].join("; ");

function config(image: string): string {
  return `service "api" {
  image = "${image}"
  command = ["sh", "-c", "${SCRIPT}"]
  restart = "always"
  volume "api-cache" {
    path = "/var/cache/api"
    ephemeral = true
    size = "8Mi"
  }
  volume "scratch" {
    path = "/scratch"
    ephemeral = true
  }
}
service "once" {
  image = "${image}"
  command = ["sh", "-c", "echo x > /scratch/y; echo wrote; exit 3"]
  restart = "never"
  volume "scratch" {
    path = "/scratch"
    ephemeral = true
  }
}`;
}

/** Schedules `allocId` of `service` and starts it with the leader's request. */
async function startFromConfig(
  bed: AgentBed,
  allocId: string,
  service: string,
): Promise<void> {
  const leader = bed.agent.leader!;
  const nodeId = bed.agent.identity.nodeId;
  const workload = bed.agent.state().config.services[service] as ServiceConfig;
  const atMs = Date.now();
  for (
    const command of [
      {
        type: "AllocScheduled",
        allocId,
        nodeId,
        workload: service,
        kind: "service",
        image: workload.image,
        cpuMillis: 100,
        memoryBytes: workload.memoryBytes,
        atMs,
      },
      { type: "AllocStatus", allocId, status: "starting", atMs },
    ] as const
  ) {
    const result = await leader.commit(command);
    assertTrue(result.ok, JSON.stringify(result));
  }
  const runtime = leader.runtime(nodeId);
  const signal = AbortSignal.timeout(30_000);
  await runtime.pull({ image: workload.image }, signal);
  const alloc = bed.agent.state().allocs.get(allocId)!;
  await runtime.start(startRequestOf(alloc, workload, {}), signal);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function mode(path: string): Promise<string> {
  return ((await Deno.lstat(path)).mode! & 0o777).toString(8);
}

Deno.test("ephemeral volumes are mounted, bounded, kept across restarts and removed with their alloc", async (t) => {
  const bed = await startAgentBed();
  const containerd = new ContainerdClient(bed.bed.containerd.socketPath, {
    namespace: "mill",
  });
  const volumes = `${bed.dataDir}/volumes`;
  const nodeId = bed.agent.identity.nodeId;
  try {
    await waitFor("registration", () => bed.agent.state().nodes.has(nodeId));
    await deployByHand(bed, "d1", config(bed.bed.images.sleeper));

    const cid = containerIdOf("api-1");
    await t.step(
      "the volume is at its path, sized, and a write past the size fails",
      async () => {
        await startFromConfig(bed, "api-1", "api");
        await waitFor(
          "the first run's report",
          async () => (await linesOf(bed, "api-1")).includes("scratch-ok"),
        );
        const lines = await linesOf(bed, "api-1");
        assertEquals(lines[0], "run 1");
        const exit = lines.find((l) => l.startsWith("big-exit "));
        assertTrue(
          exit !== undefined && exit !== "big-exit 0",
          lines.join("\n"),
        );
        const written = Number(lines[lines.indexOf(exit!) + 1]);
        assertTrue(written < 8 * MIB && written > 6 * MIB, `${written}`);
        const dir = `${volumes}/${cid}/api-cache`;
        const real = await Deno.realPath(dir);
        assertTrue((await mountPoints()).has(real), `${real} is mounted`);
        assertEquals(await mode(volumes), "700");
        assertEquals(await mode(`${volumes}/${cid}`), "700");
        assertEquals(await mode(`${dir}.img`), "600");
        assertEquals(await mode(dir), "700");
        // A volume without size is a plain directory, not a mount.
        const scratch = await Deno.realPath(`${volumes}/${cid}/scratch`);
        assertTrue(!(await mountPoints()).has(scratch));
      },
    );

    await t.step(
      "the volume's content survives a restart of the container",
      async () => {
        await containerd.killTask(cid, 9);
        await waitFor(
          "the second run",
          async () => (await linesOf(bed, "api-1")).includes("run 2"),
        );
        // The node tells the leader with its next heartbeat.
        await waitFor(
          "the restart counted in the FSM",
          () => bed.agent.state().allocs.get("api-1")?.restarts === 1,
        );
        assertEquals(bed.agent.state().allocs.get("api-1")?.restarts, 1);
      },
    );

    await t.step(
      "a stopped alloc's volumes are unmounted and removed",
      async () => {
        const real = await Deno.realPath(`${volumes}/${cid}/api-cache`);
        await bed.agent.leader!.runtime(nodeId).stop(
          { allocId: "api-1", signal: "SIGKILL", gracePeriodMs: 0 },
          AbortSignal.timeout(30_000),
        );
        assertEquals(await exists(`${volumes}/${cid}`), false);
        assertTrue(!(await mountPoints()).has(real));
      },
    );

    await t.step(
      "a failed alloc's volumes are removed at its exit",
      async () => {
        await startFromConfig(bed, "once-1", "once");
        await waitFor("the failure reported", () => {
          const alloc = bed.agent.state().allocs.get("once-1");
          return alloc?.status === "failed" && alloc.exitCode === 3;
        });
        assertTrue((await linesOf(bed, "once-1")).includes("wrote"));
        await waitFor(
          "the volume removed",
          async () => !(await exists(`${volumes}/${containerIdOf("once-1")}`)),
        );
      },
    );

    await t.step(
      "volumes an agent left behind (its alloc's record gone) are swept when the next one starts",
      async () => {
        await startFromConfig(bed, "api-2", "api");
        await waitFor(
          "the run",
          async () => (await linesOf(bed, "api-2")).includes("scratch-ok"),
        );
        const orphan = containerIdOf("api-2");
        const real = await Deno.realPath(`${volumes}/${orphan}/api-cache`);
        await bed.restartAgent(async () => {
          // As if the agent died after forgetting the alloc, before its volumes.
          await containerd.killTask(orphan, 9);
          await Deno.remove(`${bed.dataDir}/allocs/api-2.json`);
        });
        assertEquals(await exists(`${volumes}/${orphan}`), false);
        assertTrue(!(await mountPoints()).has(real));
        assertTrue(
          bed.logs.some((l) =>
            l.includes(`removed the ephemeral volumes of gone ${orphan}`)
          ),
        );
      },
    );
  } finally {
    containerd.close();
    await bed.stop();
  }
});
