/**
 * Failures on three primaries with bridge networking: a whole node killed
 * with SIGKILL (agent, containerd, shims, containers, link down) is
 * declared down and its replica runs elsewhere; restarted, it is ready
 * again and back on the mesh by itself. Then a minority of one, cut off,
 * keeps its containers running but cannot commit, while the majority can;
 * healed, the minority's own state has the majority's write.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { pidsMentioning } from "../agent/_procs.ts";
import { type Bed, type BedNode, withBed } from "./bed.ts";
import { fetchOnNode, healthyAllocs, webConfig, writeConfig } from "./_web.ts";

/** Generous bounds for a loaded 2-core machine; the heartbeat timeout is 3 s. */
const DOWN_WITHIN_MS = 20_000;
const MOVED_WITHIN_MS = 40_000;

async function statusOf(bed: Bed, via: BedNode, name: string) {
  return (await bed.nodeViews(via)).find((n) => n.name === name)?.status;
}

Deno.test("a SIGKILLed node is down and its replica moves; restarted it is ready; a cut-off minority keeps running, cannot commit, and catches up once healed", async (t) => {
  await withBed({
    nodes: 3,
    name: "failure",
    network: "bridge",
    heartbeat: { timeout: "3s", interval: "500ms" },
  }, async (bed) => {
    const file = await writeConfig(
      bed,
      "web.mill",
      webConfig(bed.registry.images.http, 3),
    );
    const deployed = await bed.mill(0, "deploy", "-f", file);
    assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
    await bed.waitFor(
      async () => (await healthyAllocs(bed, "web")).length === 3,
      { what: "3 healthy replicas", timeoutMs: 30_000 },
    );

    await t.step("kill -9 of a whole node, then its restart", async () => {
      const leader = await bed.leader();
      const victim = bed.nodes.find((n) => n !== leader)!;
      const before = await healthyAllocs(bed, "web");
      assertTrue(
        before.some((a) => a.nodeName === victim.name),
        `${victim.name} holds a replica`,
      );
      await bed.kill9(victim);
      assertEquals(
        (await bed.exec(0, ["ip", "netns", "pids", victim.netns])).stdout
          .trim(),
        "",
        "no process left in the killed node",
      );
      assertEquals(
        await pidsMentioning(victim.dir),
        [],
        "no shim or other process of the node outside its namespace",
      );
      await bed.waitFor(
        async () => await statusOf(bed, leader, victim.name) === "down",
        { what: `${victim.name} down`, timeoutMs: DOWN_WITHIN_MS },
      );
      const moved = await bed.waitFor(async () => {
        const healthy = await healthyAllocs(bed, "web", leader);
        return healthy.length === 3 &&
            healthy.every((a) => a.nodeName !== victim.name)
          ? healthy
          : null;
      }, {
        what: "3 healthy replicas off the dead node",
        timeoutMs: MOVED_WITHIN_MS,
      });
      for (const alloc of moved) {
        const node = bed.nodes.find((n) => n.name === alloc.nodeName)!;
        assertEquals(await fetchOnNode(bed, node, alloc.hostPort!), "ok\n");
      }
      const restartedAtMs = Date.now();
      await bed.restart(victim);
      await bed.waitFor(
        async () => await statusOf(bed, leader, victim.name) === "ready",
        { what: `${victim.name} ready again`, timeoutMs: 40_000 },
      );
      // Its mesh came back by itself: the leader shook hands with it anew.
      await bed.waitFor(async () => {
        const listed = await bed.mill(leader, "nodes", "--json");
        const view = (JSON.parse(listed.stdout).nodes as {
          name: string;
          meshHandshakeAt: string | null;
        }[]).find((n) => n.name === victim.name);
        const at = view?.meshHandshakeAt ?? null;
        // WireGuard's clock has whole seconds.
        return at !== null && Date.parse(at) >= restartedAtMs - 1_000 || null;
      }, { what: `a fresh handshake with ${victim.name}`, timeoutMs: 20_000 });
      const listed = await bed.mill(victim, "nodes", "--json");
      assertEquals(listed.code, 0, listed.stderr);
      assertEquals(
        (JSON.parse(listed.stdout).nodes as { status: string }[])
          .filter((n) => n.status === "ready").length,
        3,
      );
    });

    await t.step("a partitioned minority of one", async () => {
      const leader = await bed.leader();
      const healthy = await healthyAllocs(bed, "web", leader);
      const withReplica = bed.nodes.find((n) =>
        n !== leader && healthy.some((a) => a.nodeName === n.name)
      )!;
      assertTrue(withReplica !== undefined, "a follower holds a replica");
      const minority = withReplica;
      const replica = healthy.find((a) => a.nodeName === minority.name)!;
      await bed.isolate(minority);
      await bed.waitFor(
        async () => await statusOf(bed, leader, minority.name) === "down",
        {
          what: `${minority.name} down for the majority`,
          timeoutMs: DOWN_WITHIN_MS,
        },
      );
      // Its container still runs, and answers inside the minority.
      assertEquals(await fetchOnNode(bed, minority, replica.hostPort!), "ok\n");

      const refused = await bed.millWith(
        minority,
        ["secret", "set", "from-minority"],
        { stdin: "nope", timeoutMs: 45_000 },
      );
      assertTrue(
        refused.code !== 0,
        `a write through the minority's API must fail:\n${refused.stdout}${refused.stderr}`,
      );
      assertTrue(
        refused.timedOut ||
          /api\.no_leader|api\.leader_unreachable/.test(refused.stderr),
        `the failure says why:\n${refused.stderr}`,
      );
      const written = await bed.millWith(
        leader,
        ["secret", "set", "from-majority"],
        { stdin: "yes" },
      );
      assertEquals(written.code, 0, written.stderr);
      const cutOff = await bed.nodeState(minority);
      assertTrue(
        !cutOff.state.secrets.has("from-majority"),
        "the minority cannot have seen the write yet",
      );

      await bed.heal();
      await bed.waitFor(
        async () =>
          (await bed.nodeState(minority)).state.secrets.has("from-majority"),
        {
          what: "the majority's write in the minority's own state",
          timeoutMs: 30_000,
        },
      );
      assertTrue(
        !(await bed.nodeState(minority)).state.secrets.has("from-minority"),
        "the refused write never committed",
      );
      await bed.waitFor(
        async () => await statusOf(bed, leader, minority.name) === "ready",
        { what: `${minority.name} ready after the heal`, timeoutMs: 30_000 },
      );
      const listed = await bed.mill(minority, "secret", "list");
      assertEquals(listed.code, 0, listed.stderr);
      assertTrue(listed.stdout.includes("from-majority"), listed.stdout);
    });
  });
});
