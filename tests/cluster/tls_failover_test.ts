/**
 * A leader killed in the middle of an ACME order: the ordering lease it
 * took in Raft outlives it, so the new leader does not order the same host
 * again while the dead one's order could still be running. The CA's HTTP-01
 * requests to the answering node are dropped, so the order hangs in
 * validation while the leader is killed.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { startBedPebble } from "./_pebble.ts";
import { writeConfig } from "./_web.ts";

interface Ordering {
  readonly node: string;
  readonly host: string;
}

async function ordering(bed: Bed, via: number): Promise<Ordering | null> {
  const listed = await bed.mill(via, "certs", "--json");
  assertEquals(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout).acme.ordering as Ordering | null;
}

Deno.test("tls: a leader killed mid-order leaves its lease in force; nobody orders that host again meanwhile", async () => {
  await withBed(
    { nodes: 3, name: "tlsfail", network: "bridge" },
    async (bed) => {
      const leader = await bed.leader();
      const answering = bed.nodes.findIndex((n) => n !== leader);
      const pebble = await startBedPebble(bed, {
        defaultAddress: bed.nodes[answering]!.address,
      });
      // The CA's requests to the answering node's port 80 are dropped.
      const pebbleIp = bed.registry.host.split(":")[0]!;
      const dropped = await bed.exec(answering, ["nft", "-f", "-"], {
        stdin: [
          "table inet tlsfailtest {",
          "  chain in {",
          "    type filter hook input priority filter; policy accept;",
          `    ip saddr ${pebbleIp} tcp dport 80 drop`,
          "  }",
          "}",
        ].join("\n"),
      });
      assertEquals(dropped.code, 0, dropped.stderr);
      const set = await bed.mill(
        0,
        "certs",
        "settings",
        "--directory",
        pebble.directoryUrl,
        "--ca-file",
        pebble.caFile,
      );
      assertEquals(set.code, 0, `${set.stdout}${set.stderr}`);
      const config = await writeConfig(
        bed,
        "slow.mill",
        `service "web" {
  image    = "${bed.registry.images.http}"
  port     = 8080
  cpu      = 0.1
  memory   = "32M"
  health {
    path = "/health"
  }
  route "slow.test" {}
}
`,
      );
      const deployed = await bed.mill(0, "deploy", "-f", config);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      const via = bed.nodes.findIndex((n) => n !== leader);
      const held = await bed.waitFor(async () => {
        const now = await ordering(bed, via);
        return now?.host === "slow.test" ? now : null;
      }, { what: "the leader ordering slow.test", timeoutMs: 30_000 });
      assertEquals(held.node, leader.name, "the leader orders");
      // Orders pebble made (a POST it refused for a bad nonce is retried
      // by the client and makes none).
      const orders = async () =>
        ((await pebble.log()).match(/Added order "/g) ?? []).length;
      // The lease is taken before the CA is asked: wait for the order, which
      // then hangs in validation (port 80 is dropped).
      await bed.waitFor(async () => await orders() === 1 || null, {
        what: "the order at the CA",
        timeoutMs: 20_000,
      });

      await bed.kill9(leader);
      const next = await bed.waitFor(async () => {
        const now = await bed.leader();
        return now !== leader ? now : null;
      }, { what: "a new leader", timeoutMs: 20_000 });
      // Long enough for the new leader's duty to have looked many times.
      const until = Date.now() + 8_000;
      while (Date.now() < until) {
        const now = await ordering(bed, bed.nodes.indexOf(next));
        assertEquals(now, held, "the dead leader's lease stays in force");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      assertEquals(await orders(), 1, "no second order while the lease runs");
      const certs = JSON.parse(
        (await bed.mill(bed.nodes.indexOf(next), "certs", "--json")).stdout,
      ).certificates as { host: string; state: string }[];
      assertTrue(
        certs.some((c) => c.host === "slow.test" && c.state === "none"),
        JSON.stringify(certs),
      );
    },
  );
});
