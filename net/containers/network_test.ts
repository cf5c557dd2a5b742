/**
 * The container network for real, each test in a private "host" network
 * namespace (see testbed_testing.ts): bridge, alloc namespaces, nft.
 */
import { strictEqual } from "node:assert/strict";
import { HOST_UNDERLAY, withHost, WORLD } from "./testbed_testing.ts";

Deno.test("two allocs on one bridge reach each other on the same port; the world sees the node's address, the mesh the alloc's", async () => {
  await withHost(async (host) => {
    const net = host.network({ meshInterface: "mesh0" });
    await net.ensureHost();
    const a = await net.attach("web-1", "10.210.3.2");
    const b = await net.attach("web-2", "10.210.3.3");
    strictEqual(a.netnsPath, `/run/netns/${host.prefix}-a-web-1`);
    // Two replicas of a fixed-port image on one node: both on port 80.
    await host.serve(a.netnsPath, 80, "replica-1");
    await host.serve(b.netnsPath, 80, "replica-2");
    strictEqual(
      await host.fetch(a.netnsPath, "http://10.210.3.3/"),
      "replica-2",
    );
    strictEqual(
      await host.fetch(b.netnsPath, "http://10.210.3.2/"),
      "replica-1",
    );
    // No address translation between allocs of one node.
    strictEqual(
      await host.fetch(a.netnsPath, "http://10.210.3.3/cgi-bin/ip"),
      "10.210.3.2",
    );

    // The world: masqueraded to the node's underlay address.
    const world = host.netnsPath(host.worldNetns);
    await host.serve(world, 80, "world");
    strictEqual(
      await host.fetch(a.netnsPath, `http://${WORLD}/cgi-bin/ip`),
      HOST_UNDERLAY,
    );

    // Another node's subnet through the mesh interface keeps the source.
    const peer = `${host.prefix}-p`;
    await host.sh(["ip", "netns", "add", peer]);
    const peerPath = host.netnsPath(peer);
    await host.onHost([
      "ip",
      "link",
      "add",
      "mesh0",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      peer,
    ]);
    await host.onHost(["ip", "addr", "add", "192.0.3.1/24", "dev", "mesh0"]);
    await host.onHost(["ip", "link", "set", "mesh0", "up"]);
    await host.onHost([
      "ip",
      "route",
      "add",
      "10.210.4.0/24",
      "via",
      "192.0.3.2",
    ]);
    await host.inNetns(peerPath, ["ip", "link", "set", "lo", "up"]);
    await host.inNetns(peerPath, [
      "ip",
      "addr",
      "add",
      "192.0.3.2/24",
      "dev",
      "eth0",
    ]);
    await host.inNetns(peerPath, [
      "ip",
      "addr",
      "add",
      "10.210.4.1/24",
      "dev",
      "lo",
    ]);
    await host.inNetns(peerPath, ["ip", "link", "set", "eth0", "up"]);
    await host.inNetns(peerPath, [
      "ip",
      "route",
      "add",
      "10.210.3.0/24",
      "via",
      "192.0.3.1",
    ]);
    await host.serve(peerPath, 80, "peer");
    strictEqual(
      await host.fetch(a.netnsPath, "http://10.210.4.1/cgi-bin/ip"),
      "10.210.3.2",
    );
    await net.teardown();
    strictEqual((await host.ownNetns()).some((n) => n.includes("-a-")), false);
  });
});

Deno.test("publish forwards a pool port to the alloc from outside and from the node itself; unpublish removes it", async () => {
  await withHost(async (host) => {
    const net = host.network();
    await net.ensureHost();
    const a = await net.attach("api-1", "10.210.3.2");
    const b = await net.attach("api-2", "10.210.3.3");
    await host.serve(a.netnsPath, 80, "api-1");
    await host.serve(b.netnsPath, 8080, "api-2");
    const world = host.netnsPath(host.worldNetns);
    const node = host.netnsPath(host.hostNetns);
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20001/`),
      null,
    );
    await net.publish("api-1", { hostPort: 20001, containerPort: 80 });
    await net.publish("api-1", { hostPort: 20001, containerPort: 80 }); // again: same
    await net.publish("api-2", {
      hostPort: 20002,
      containerPort: 8080,
      protocol: "tcp",
    });
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20001/`),
      "api-1",
    );
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20002/`),
      "api-2",
    );
    // The caller outside is seen as itself (no source NAT on the way in).
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20001/cgi-bin/ip`),
      WORLD,
    );
    // The node's own connections: to its address and to localhost.
    strictEqual(
      await host.fetch(node, `http://${HOST_UNDERLAY}:20001/`),
      "api-1",
    );
    strictEqual(await host.fetch(node, "http://127.0.0.1:20001/"), "api-1");
    // An alloc through its node's published port (hairpin).
    strictEqual(
      await host.fetch(b.netnsPath, `http://${HOST_UNDERLAY}:20001/`),
      "api-1",
    );
    // Traffic merely passing through the node is not forwarded.
    await host.inNetns(world, [
      "ip",
      "route",
      "add",
      "198.51.100.0/24",
      "via",
      HOST_UNDERLAY,
    ]);
    strictEqual(await host.fetch(world, "http://198.51.100.9:20001/"), null);

    await net.unpublish("api-1");
    await net.unpublish("api-1"); // idempotent
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20001/`),
      null,
    );
    strictEqual(await host.fetch(node, "http://127.0.0.1:20001/"), null);
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20002/`),
      "api-2",
    );
    // Detach takes the alloc's publications with it.
    await net.detach("api-2");
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20002/`),
      null,
    );
    const rules = await host.onHost([
      "nft",
      "list",
      "table",
      "inet",
      net.table,
    ]);
    strictEqual(rules.includes("dnat ip to"), false, rules);
    await net.teardown();
  });
});

Deno.test("allocs cannot reach the agent's ports on any node address, but reach DNS on the gateway", async () => {
  await withHost(async (host) => {
    const net = host.network({ agentPorts: [7443, 7946] });
    await net.ensureHost();
    const a = await net.attach("app-1", "10.210.3.2");
    const node = host.netnsPath(host.hostNetns);
    const world = host.netnsPath(host.worldNetns);
    // The agent's API, on every address of the node.
    await host.serve(node, 7443, "agent-api");
    // A port that is not the agent's stays reachable.
    await host.serve(node, 9000, "other");
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:7443/`),
      "agent-api",
    );
    strictEqual(await host.fetch(a.netnsPath, "http://10.210.3.1:7443/"), null);
    strictEqual(
      await host.fetch(a.netnsPath, `http://${HOST_UNDERLAY}:7443/`),
      null,
    );
    strictEqual(
      await host.fetch(a.netnsPath, "http://10.210.3.1:9000/"),
      "other",
    );
    // Refused at once (reset), not left to time out.
    const refused = await host.try(a.netnsPath, [
      "curl",
      "-s",
      "--max-time",
      "3",
      "http://10.210.3.1:7443/",
    ]);
    strictEqual(refused.code, 7, "curl: connection refused");

    // The node's DNS on the gateway, over UDP and TCP.
    const pidFile = await Deno.makeTempFile();
    try {
      host.start(node, [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=10.210.3.1",
        "--port=53",
        `--pid-file=${pidFile}`,
        "--user=root",
        "--address=/db.mill/10.210.3.77",
      ]);
      const ask = async (tcp: boolean) =>
        (await host.try(a.netnsPath, [
          "dig",
          "+short",
          "+time=2",
          "+tries=1",
          ...(tcp ? ["+tcp"] : []),
          "@10.210.3.1",
          "db.mill",
        ])).stdout.trim();
      await host.until(
        "dnsmasq",
        async () => await ask(false) === "10.210.3.77",
      );
      strictEqual(await ask(true), "10.210.3.77");
    } finally {
      await Deno.remove(pidFile).catch(() => {});
    }
    strictEqual(
      net.resolvConf(),
      "nameserver 10.210.3.1\nsearch mill\noptions ndots:1\n",
    );
    await net.teardown();
  });
});
