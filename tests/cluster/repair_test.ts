/**
 * A repair that cannot finish is followed by another: a node holding a
 * replica dies while the only node free to take it cannot reach the
 * registry, so the repair's start fails; the leader says it will try again,
 * and once the registry is reachable the service is whole, on that node.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { healthyAllocs, webConfig, writeConfig } from "./_web.ts";

const BLOCK_TABLE = "repairtest";

/** Rejects node `index`'s TCP to the registry (a reset: the pull fails at once). */
async function blockRegistry(bed: Bed, index: number): Promise<void> {
  const [host, port] = bed.registry.host.split(":");
  const script = [
    `table inet ${BLOCK_TABLE} {`,
    "  chain out {",
    "    type filter hook output priority filter; policy accept;",
    `    ip daddr ${host} tcp dport ${port} reject with tcp reset`,
    "  }",
    "}",
  ].join("\n");
  const blocked = await bed.exec(index, ["nft", "-f", "-"], { stdin: script });
  assertEquals(blocked.code, 0, blocked.stderr);
}

async function unblockRegistry(bed: Bed, index: number): Promise<void> {
  const done = await bed.exec(index, [
    "nft",
    "delete",
    "table",
    "inet",
    BLOCK_TABLE,
  ]);
  assertEquals(done.code, 0, done.stderr);
}

Deno.test("a repair whose start failed is followed by another until the service is whole", async () => {
  await withBed({
    nodes: 3,
    name: "repair",
    network: "bridge",
    heartbeat: { timeout: "3s", interval: "500ms" },
  }, async (bed) => {
    const file = await writeConfig(
      bed,
      "web.mill",
      webConfig(bed.registry.images.http, 2),
    );
    const deployed = await bed.mill(0, "deploy", "-f", file);
    assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
    const first = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "web");
      return healthy.length === 2 ? healthy : null;
    }, { what: "2 healthy replicas", timeoutMs: 30_000 });
    const leader = await bed.leader();
    const holders = first.map((a) => a.nodeName);
    const free = bed.nodes.findIndex((n) => !holders.includes(n.name));
    const victim = bed.nodes.find((n) =>
      n !== leader && holders.includes(n.name)
    )!;
    assertTrue(free >= 0 && victim !== undefined, `replicas on ${holders}`);

    // The free node has never pulled the image, and now cannot.
    await blockRegistry(bed, free);
    await bed.kill9(victim);
    await bed.waitFor(
      async () =>
        (await bed.logs(leader)).includes(
          "repair: services are still short; another repair in",
        ) || null,
      { what: "the leader to plan another repair", timeoutMs: 40_000 },
    );
    const failed =
      (await bed.api<{ allocs: { nodeName: string; status: string }[] }>(
        leader,
        "/v1/allocs?service=web&all=1",
      )).allocs.filter((a) =>
        a.nodeName === bed.nodes[free]!.name && a.status === "failed"
      );
    assertTrue(failed.length > 0, "the repair's start on the free node failed");

    await unblockRegistry(bed, free);
    const whole = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "web", leader);
      return healthy.length === 2 &&
          healthy.every((a) => a.nodeName !== victim.name)
        ? healthy
        : null;
    }, { what: "2 healthy replicas off the dead node", timeoutMs: 60_000 });
    assertTrue(
      whole.some((a) => a.nodeName === bed.nodes[free]!.name),
      `a replica on the free node: ${whole.map((a) => a.nodeName)}`,
    );
  });
});
