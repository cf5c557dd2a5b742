/**
 * Three agents as separate OS processes, each on its own containerd, killed
 * with SIGKILL (a crash: no goodbye to Raft, no heartbeat stop, containers
 * left running on the node's containerd), watched only through the HTTPS
 * API: replicas spread; a dead secondary's replica runs elsewhere within
 * the heartbeat timeout + 5 s and its stray container is stopped once the
 * agent comes back; a leader killed mid-deploy leaves the deploy finished
 * or rolled back and nothing pulling or starting. Run by
 * cluster_kill9_test.ts in a network namespace of its own.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { waitFor } from "./_bed.ts";
import {
  type ProcessCluster,
  type ProcessNode,
  startProcessCluster,
  type StatusView,
} from "./_process_cluster.ts";

const HEARTBEAT_TIMEOUT_MS = 2_000;

interface AllocView {
  id: string;
  workload: string;
  nodeId: string;
  status: string;
}

function config(image: string, replicas: number): string {
  return `service "idle" {\n  image = "${image}"\n  replicas = ${replicas}\n  cpu = 0.1\n  memory = "32M"\n}\n`;
}

async function allocs(cluster: ProcessCluster, via: ProcessNode) {
  return (await cluster.getJson<{ allocs: AllocView[] }>(via, "/v1/allocs"))
    ?.allocs ?? null;
}

async function status(cluster: ProcessCluster, via: ProcessNode) {
  return await cluster.getJson<StatusView>(via, "/v1/status");
}

/** Ids of the tasks running on a containerd (mill's namespace). */
async function runningTasks(socketPath: string): Promise<string[]> {
  const client = new ContainerdClient(socketPath, { namespace: "mill" });
  try {
    return (await client.listTasks())
      .filter((task) => task.status === "RUNNING" || task.status === "running")
      .map((task) => task.containerId === "" ? task.id : task.containerId);
  } finally {
    client.close();
  }
}

/** Posts a deploy and reads its event stream up to the first `phase` event. */
async function deployUntilFirstPhase(
  cluster: ProcessCluster,
  via: ProcessNode,
  text: string,
): Promise<ReadableStreamDefaultReader<string>> {
  const response = await cluster.api(via, "/v1/deploy?file=idle.mill", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: text,
  });
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let seen = "";
  while (!/^event: phase$/m.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the deploy stream ended early:\n${seen}`);
    seen += value;
  }
  return reader;
}

Deno.test("three agent processes: replicas spread, a SIGKILLed secondary's replica moves and its stray container is stopped, a leader SIGKILLed mid-deploy leaves nothing half-started", async (t) => {
  const cluster = await startProcessCluster({
    heartbeatTimeout: `${HEARTBEAT_TIMEOUT_MS}ms`,
    heartbeatInterval: "200ms",
  });
  const images = cluster.bed.images;
  const [first] = cluster.nodes;
  let passed = true;
  try {
    passed &&= await t.step("three replicas land on three nodes", async () => {
      const reader = await deployUntilFirstPhase(
        cluster,
        first!,
        config(images.sleeper, 3),
      );
      let text = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      assertTrue(/^event: done$/m.test(text), text);
      const live = (await allocs(cluster, first!))!.filter((a) =>
        a.workload === "idle"
      );
      assertEquals(live.length, 3);
      assertEquals(new Set(live.map((a) => a.nodeId)).size, 3);
    });

    passed &&= await t.step(
      "a SIGKILLed secondary's replica runs elsewhere within the timeout + 5 s; back, its stray container is stopped",
      async () => {
        const leaderName = (await status(cluster, first!))!.leader!.name;
        const victim = cluster.nodes.find((n) => n.name !== leaderName)!;
        const watcher = cluster.nodes.find((n) => n.name === leaderName)!;
        const victimId = await victim.nodeId();
        const stray = await runningTasks(victim.containerd.socketPath);
        assertEquals(stray.length, 1);
        await victim.kill9();
        await waitFor(
          "a replacement healthy on a live node",
          async () => {
            const live = (await allocs(cluster, watcher))?.filter((a) =>
              a.workload === "idle"
            );
            return live?.length === 3 &&
              live.every((a) =>
                a.nodeId !== victimId && a.status === "healthy"
              );
          },
          HEARTBEAT_TIMEOUT_MS + 5_000,
        );
        // The crashed agent left its container running.
        assertEquals(await runningTasks(victim.containerd.socketPath), stray);
        victim.start();
        await waitFor(
          "the victim back and its stray container stopped",
          async () =>
            (await status(cluster, watcher))?.nodes.ready === 3 &&
            (await runningTasks(victim.containerd.socketPath)).length === 0,
        );
      },
    );

    // The new leader must recover from the whole committed log: before its
    // read barrier it may not yet have applied the allocs the dead leader
    // had just scheduled, and a recovery from that past left them pulling.
    passed &&= await t.step({
      name:
        "a leader SIGKILLed mid-deploy: a new leader finishes or rolls back, nothing half-started",
      fn: async () => {
        const leaderName = (await status(cluster, first!))!.leader!.name;
        const leader = cluster.nodes.find((n) => n.name === leaderName)!;
        const leaderId = await leader.nodeId();
        const survivors = cluster.nodes.filter((n) => n !== leader);
        // A new image for every replica (stubborn ignores SIGTERM, so the
        // old ones take their grace period): the leader dies in the middle.
        const reader = await deployUntilFirstPhase(
          cluster,
          leader,
          config(images.stubborn, 2),
        );
        await leader.kill9();
        await reader.cancel().catch(() => {/* the stream died with it */});
        await waitFor("a new leader", async () => {
          const view = await status(cluster, survivors[0]!);
          return view?.leader !== null && view?.leader !== undefined &&
            view.leader.name !== leaderName;
        });
        let seen = "";
        await waitFor(
          "the deploy finished or rolled back, nothing pulling or starting",
          async () => {
            const view = await status(cluster, survivors[0]!);
            const live = await allocs(cluster, survivors[0]!);
            seen = JSON.stringify({
              deploy: view?.lastDeploy,
              allocs: live?.map((a) => [a.id, a.nodeId, a.status]),
            });
            return view !== null && live !== null &&
              view.lastDeploy?.status !== "running" &&
              !live.some((a) =>
                a.status === "pulling" || a.status === "starting"
              );
          },
          // A deadline, not a timing: the stubborn image's grace periods and
          // the dead node's heartbeat timeout come first on a loaded machine.
          60_000,
        ).catch((error) => {
          throw new Error(`${error}; last seen ${seen}`);
        });
        // The dead leader's node is down and none of its allocs count as
        // live: the service is whole on the two survivors.
        await waitFor(
          "the old leader's node down, the service whole on the survivors",
          async () => {
            const view = await status(cluster, survivors[0]!);
            const live = (await allocs(cluster, survivors[0]!))?.filter((a) =>
              a.workload === "idle"
            );
            const service = view?.services.find((s) => s.name === "idle");
            return view?.nodes.down === 1 && live !== undefined &&
              service !== undefined && live.length === service.replicas &&
              live.every((a) =>
                a.nodeId !== leaderId && a.status === "healthy"
              );
          },
          30_000,
        );
        // Its containers still run on its containerd until the agent is back
        // and told they are not wanted there.
        leader.start();
        await waitFor(
          "the old leader back and its containers stopped",
          async () =>
            (await status(cluster, survivors[0]!))?.nodes.ready === 3 &&
            (await runningTasks(leader.containerd.socketPath)).length === 0,
        );
      },
    });
  } catch (error) {
    passed = false;
    throw error;
  } finally {
    if (!passed) {
      for (const node of cluster.nodes) {
        console.error(`--- ${node.name} log:\n${await node.logs()}`);
      }
    }
    await cluster.stop();
  }
});
