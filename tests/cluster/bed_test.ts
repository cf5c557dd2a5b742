/**
 * The bed itself: partitions and heals really cut and restore traffic
 * between node namespaces, a one-way cut drops one direction only, and
 * leftovers() sees what is left of a bed after its stop.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, type BedNode, startBed } from "./bed.ts";
import { cutsBetween, partitionScript } from "./_underlay.ts";
import { PEER_PORT } from "./_node.ts";
import { run, spawnLogged, waitFor } from "./_run.ts";

const PROBE_PORT = 9999;

/** True when `from` opens a TCP connection to `to`'s agent (its peer port). */
async function connects(
  bed: Bed,
  from: BedNode,
  to: BedNode,
): Promise<boolean> {
  const result = await bed.exec(from, [
    "timeout",
    "1",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/${to.address}/${PEER_PORT}`,
  ]);
  return result.code === 0;
}

/** Counts UDP packets to PROBE_PORT arriving in `node`'s namespace (an nft counter there). */
async function installProbe(bed: Bed, node: BedNode): Promise<void> {
  const result = await bed.exec(node, ["nft", "-f", "-"], {
    stdin:
      `table inet probe {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    udp dport ${PROBE_PORT} counter\n  }\n}\n`,
  });
  assertEquals(result.code, 0, result.stderr);
}

async function arrived(bed: Bed, node: BedNode): Promise<number> {
  const listed = await bed.exec(node, [
    "nft",
    "list",
    "table",
    "inet",
    "probe",
  ]);
  const packets = /counter packets (\d+)/.exec(listed.stdout);
  assertTrue(packets !== null, listed.stdout + listed.stderr);
  return Number(packets![1]);
}

/** Sends 3 UDP datagrams from `from` to `to`, then gives them a moment. */
async function sendUdp(bed: Bed, from: BedNode, to: BedNode): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await bed.exec(from, [
      "bash",
      "-c",
      `echo probe >/dev/udp/${to.address}/${PROBE_PORT}`,
    ]);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}

Deno.test("partition rules: every directed pair across groups, none inside; a node in two groups is refused", () => {
  assertEquals(cutsBetween([[1], [2, 3]]), [
    { from: 1, to: 2 },
    { from: 1, to: 3 },
    { from: 2, to: 1 },
    { from: 3, to: 1 },
  ]);
  assertEquals(cutsBetween([[1, 2, 3]]), []);
  let refused = "";
  try {
    cutsBetween([[1, 2], [2, 3]]);
  } catch (error) {
    refused = (error as Error).message;
  }
  assertEquals(refused, "node 2 is in two partition groups");
  const script = partitionScript([{ from: 1, to: 2 }, { from: 1, to: 2 }]);
  assertEquals(script.split("\n").filter((l) => l.includes("drop")).length, 1);
});

Deno.test("the bed: partition and heal cut and restore traffic, a one-way cut drops one direction, leftovers() finds what a stop left", async (t) => {
  const bed = await startBed({ nodes: 3, primaries: 1, name: "harness" });
  const [n1, n2, n3] = bed.nodes as [BedNode, BedNode, BedNode];
  let strayNamespace: string | null = null;
  try {
    assertEquals(bed.nodes.map((n) => n.primary), [true, false, false]);
    assertTrue(n2.apiUrl === null, "a secondary has no API");
    const viaSecondary = await bed.mill(n3, "nodes", "--json");
    assertEquals(viaSecondary.code, 0, viaSecondary.stderr);

    await t.step("partition and heal", async () => {
      for (const [a, b] of [[n1, n2], [n2, n3], [n3, n1]] as const) {
        assertTrue(await connects(bed, a, b), `${a.name} reaches ${b.name}`);
      }
      await bed.partition([[n1], [n2, n3]]);
      assertTrue(!await connects(bed, n1, n2), "n1 cut from n2");
      assertTrue(!await connects(bed, n3, n1), "n3 cut from n1");
      assertTrue(await connects(bed, n2, n3), "n2 and n3 on one side");
      await bed.isolate(n3);
      assertTrue(await connects(bed, n1, n2), "isolate replaces the partition");
      assertTrue(!await connects(bed, n2, n3), "n3 alone");
      await bed.heal();
      for (const [a, b] of [[n1, n2], [n2, n3], [n3, n1]] as const) {
        assertTrue(
          await connects(bed, a, b),
          `${a.name} reaches ${b.name} again`,
        );
      }
      const refused = await bed.partition([[n1, n2], [n2]]).then(
        () => "",
        (error) => (error as Error).message,
      );
      assertEquals(refused, "node 2 is in two partition groups");
    });

    await t.step("a one-way cut", async () => {
      await installProbe(bed, n1);
      await installProbe(bed, n2);
      await bed.cutOneWay(n1, n2);
      await sendUdp(bed, n1, n2);
      assertEquals(await arrived(bed, n2), 0, "n1 → n2 dropped");
      await sendUdp(bed, n2, n1);
      assertTrue(await arrived(bed, n1) >= 1, "n2 → n1 passes");
      await bed.heal();
      await sendUdp(bed, n1, n2);
      assertTrue(await arrived(bed, n2) >= 1, "n1 → n2 passes once healed");
    });

    await t.step("leftovers() after a stop", async () => {
      await bed.stop();
      assertEquals(await bed.leftovers(), [], "a clean stop leaves nothing");
      strayNamespace = `${bed.prefix}-stray`;
      const added = await run(["ip", "netns", "add", strayNamespace]);
      assertEquals(added.code, 0, added.stderr);
      const log = await Deno.makeTempFile();
      const stray = spawnLogged(
        ["nsenter", `--net=/var/run/netns/${strayNamespace}`, "sleep", "60"],
        { stdout: log, stderr: log },
      );
      try {
        // nsenter has entered the namespace once the kernel lists its pid.
        await waitFor(async () => {
          const pids = await run(["ip", "netns", "pids", strayNamespace!]);
          return pids.stdout.trim() !== "" || null;
        }, { what: "the stray process in its namespace", timeoutMs: 10_000 });
        const left = await bed.leftovers();
        assertTrue(
          left.includes(`network namespace ${strayNamespace}`),
          left.join("\n"),
        );
        assertTrue(
          left.some((l) =>
            l.startsWith(`process ${stray.pid} in ${strayNamespace}: sleep 60`)
          ),
          left.join("\n"),
        );
      } finally {
        await stray.kill();
        await Deno.remove(log);
      }
      await run(["ip", "netns", "delete", strayNamespace]);
      strayNamespace = null;
      assertEquals(await bed.leftovers(), []);
    });
  } finally {
    await bed.stop();
    if (strayNamespace !== null) {
      await run(["ip", "netns", "delete", strayNamespace]);
    }
  }
});
