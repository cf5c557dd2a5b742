/**
 * The container network with a real containerd and runc: containers
 * created with `network` join their alloc's namespace, answer on their own
 * address (two replicas on one port), through a published port, and see
 * the resolv.conf and hosts files given to them.
 */
import { strictEqual } from "node:assert/strict";
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
} from "../../containerd/mod.ts";
import { startTestBed } from "../../tests/containerd/testbed.ts";
import { HOST_UNDERLAY, withHost } from "./testbed_testing.ts";

Deno.test("containers created with a network answer on their alloc's address and see its resolv.conf", async () => {
  const bed = await startTestBed();
  const work = await Deno.makeTempDir({ prefix: "mill-net-ctr-" });
  const client = new ContainerdClient(bed.containerd.socketPath);
  const images = new ImageService(client, { insecure: [bed.registry.host] });
  const runner = new ContainerRunner(client, images, {
    fifoDir: `${work}/fifo`,
    runcRoot: bed.containerd.runcRoot,
    host: detectHostFacts(bed.containerd.cgroupParent),
  });
  const ids: string[] = [];
  try {
    await images.pull(bed.images.http);
    await images.pull(bed.images.sleeper);
    await withHost(async (host) => {
      const net = host.network();
      await net.ensureHost();
      const resolvConfPath = `${work}/resolv.conf`;
      const hostsPath = `${work}/hosts`;
      await Deno.writeTextFile(resolvConfPath, net.resolvConf());
      await Deno.writeTextFile(
        hostsPath,
        "127.0.0.1 localhost\n10.210.3.4 dns-1\n",
      );
      for (
        const [i, address] of [[1, "10.210.3.2"], [2, "10.210.3.3"]] as const
      ) {
        const id = `${host.prefix}-web-${i}`;
        const { netnsPath } = await net.attach(id, address);
        await runner.create({
          id,
          image: bed.images.http,
          env: { PORT: "80" }, // both replicas on the same port
          network: { netnsPath, resolvConfPath, hostsPath },
        });
        ids.push(id);
        await runner.start(id);
      }
      const node = host.netnsPath(host.hostNetns);
      for (const address of ["10.210.3.2", "10.210.3.3"]) {
        await host.until(
          `container at ${address}`,
          async () =>
            await host.fetch(node, `http://${address}/health`) === "ok",
        );
      }
      await net.publish(`${host.prefix}-web-1`, {
        hostPort: 20080,
        containerPort: 80,
      });
      const world = host.netnsPath(host.worldNetns);
      strictEqual(
        await host.fetch(world, `http://${HOST_UNDERLAY}:20080/health`),
        "ok",
      );
      // Not on the host's network: nothing listens on the node's port 80.
      strictEqual(await host.fetch(node, "http://127.0.0.1/health"), null);

      const catId = `${host.prefix}-cat`;
      const { netnsPath } = await net.attach(catId, "10.210.3.4");
      await runner.create({
        id: catId,
        image: bed.images.sleeper,
        command: [
          "/bin/sh",
          "-c",
          "cat /etc/resolv.conf /etc/hosts; echo x >> /etc/hosts || echo read-only",
        ],
        network: { netnsPath, resolvConfPath, hostsPath },
      });
      ids.push(catId);
      await runner.start(catId);
      strictEqual(await runner.wait(catId, 20_000), 0);
      const lines = (await runner.remove(catId)).filter((l) =>
        l.stream === "stdout"
      ).map((l) => l.line);
      strictEqual(
        lines.join("\n"),
        "nameserver 10.210.3.1\nsearch mill\noptions ndots:1\n127.0.0.1 localhost\n10.210.3.4 dns-1\nread-only",
      );
      for (const id of ids) await runner.remove(id);
      await net.teardown();
    });
  } finally {
    for (const id of ids) await runner.remove(id).catch(() => {});
    client.close();
    await bed.stop();
    await Deno.remove(work, { recursive: true });
  }
});
