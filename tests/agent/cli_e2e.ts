/**
 * The CLI against a one-node cluster on a private containerd and registry:
 * a secret set from a file, a deploy through the deploy coordinator (the
 * secret resolved on the node), then status, nodes, ps, logs and secret
 * list as a user runs them, `--json` included. Run by cli_test.ts in a
 * network namespace of its own (host ports are shared otherwise).
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { CONTEXT_PATH_ENV } from "../../cli/_api.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { waitFor } from "./_bed.ts";
import { containerEnv, mill, startCliBed } from "./_cli_bed.ts";

Deno.test("the CLI sets a secret, deploys, and shows status, nodes, ps and logs of a one-node cluster", async (t) => {
  const cli = await startCliBed("mill-cli-");
  const { bed, work } = cli;
  try {
    await t.step(
      "mill secret set reads the value from a file, never argv",
      async () => {
        await Deno.writeTextFile(`${work}/value`, "s3cr3t-value");
        const refused = await mill("secret", "set", "greeting", "in-argv");
        assertEquals(refused.code, 2);
        assertTrue(refused.stderr.includes("--from-file"));
        const set = await mill(
          "secret",
          "set",
          "greeting",
          "--from-file",
          `${work}/value`,
        );
        assertEquals(set.code, 0, set.stderr);
        const list = await mill("secret", "list", "--json");
        assertEquals(list.code, 0);
        const names = JSON.parse(list.stdout).secrets.map((
          s: { name: string },
        ) => s.name);
        assertEquals(names, ["greeting"]);
        assertTrue(!list.stdout.includes("s3cr3t"));
      },
    );

    await t.step(
      "mill deploy runs a service that answers on its host port",
      async () => {
        await Deno.writeTextFile(
          `${work}/app.mill`,
          `service "web" {
  image = "${bed.bed.images.http}"
  port = 8080
  cpu = 0.1
  memory = "64M"
  env { GREETING = "\${secret(greeting)}" }
  health {
    path = "/health"
    interval = "2s"
  }
}
`,
        );
        const deployed = await mill("deploy", "-f", `${work}/app.mill`);
        assertEquals(deployed.code, 0, deployed.stdout + deployed.stderr);
        assertTrue(deployed.stdout.includes("deployed"), deployed.stdout);
        const alloc = [...bed.agent.state().allocs.values()].find((a) =>
          a.workload === "web" && a.status === "healthy"
        );
        assertTrue(alloc !== undefined, "a healthy web alloc");
        const answer = await fetch(
          `http://127.0.0.1:${alloc!.hostPort}/health`,
        );
        assertEquals((await answer.text()).trim(), "ok");
        // The secret was resolved on the node, and PORT is the host port.
        const environ = await containerEnv(bed, "web");
        assertTrue(environ.includes("GREETING=s3cr3t-value"));
        assertTrue(environ.includes(`PORT=${alloc!.hostPort}`));
      },
    );

    await t.step(
      "a service killed from outside is restarted and healthy again",
      async () => {
        const alloc = [...bed.agent.state().allocs.values()].find((a) =>
          a.workload === "web" && a.status === "healthy"
        )!;
        const containerd = new ContainerdClient(
          bed.bed.containerd.socketPath,
          { namespace: "mill" },
        );
        try {
          await containerd.killTask(containerIdOf(alloc.id), 9);
        } finally {
          containerd.close();
        }
        await waitFor(
          "the restart counted",
          () => bed.agent.state().allocs.get(alloc.id)?.restarts === 1,
        );
        await waitFor(
          "healthy again",
          () => bed.agent.state().allocs.get(alloc.id)?.status === "healthy",
        );
        const answer = await fetch(`http://127.0.0.1:${alloc.hostPort}/health`);
        assertEquals((await answer.text()).trim(), "ok");
      },
    );

    await t.step(
      "mill status, nodes and ps show the cluster, in text and JSON",
      async () => {
        const status = await mill("status");
        assertEquals(status.code, 0, status.stderr);
        assertTrue(status.stdout.includes(bed.cluster.clusterId));
        assertTrue(/web\s+1\/1\s+8080/.test(status.stdout), status.stdout);
        const nodes = await mill("nodes", "--json");
        assertEquals(JSON.parse(nodes.stdout).nodes[0].name, "node-1");
        const ps = await mill("ps");
        assertTrue(
          /web\s+service\s+node-1\s+healthy/.test(ps.stdout),
          ps.stdout,
        );
        const psJson = await mill("ps", "web", "--json");
        assertEquals(JSON.parse(psJson.stdout).allocs.length, 1);
      },
    );

    await t.step(
      "mill logs prints the service's output and refuses unknown names",
      async () => {
        const logs = await mill("logs", "web", "--json");
        assertEquals(logs.code, 0, logs.stderr);
        assertTrue(Array.isArray(JSON.parse(logs.stdout).lines));
        const unknown = await mill("logs", "nope");
        assertEquals(unknown.code, 1);
        assertTrue(unknown.stderr.includes("logs.not_found"), unknown.stderr);
        assertTrue(!unknown.stderr.includes("s3cr3t"));
      },
    );

    await t.step("a CLI without a reachable cluster exits 3", async () => {
      await Deno.writeTextFile(
        `${work}/config.json`,
        JSON.stringify({
          format: 1,
          current: "gone",
          contexts: {
            gone: {
              apiUrl: "https://127.0.0.1:1",
              clusterId: bed.cluster.clusterId,
              caCertPem: bed.cluster.caCertPem,
              token: bed.cluster.adminToken,
            },
          },
        }),
      );
      Deno.env.set(CONTEXT_PATH_ENV, `${work}/config.json`);
      const status = await mill("status");
      assertEquals(status.code, 3);
      assertTrue(status.stderr.includes("cli.unreachable"));
    });
  } finally {
    await cli.stop();
  }
});
