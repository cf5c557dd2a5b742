/**
 * The container network's life: idempotent attach and detach, the sweep
 * after a crash of the agent, repairs after hand deletions, and bad input.
 * Each test in a private "host" network namespace (testbed_testing.ts).
 */
import {
  deepStrictEqual,
  rejects,
  strictEqual,
  throws,
} from "node:assert/strict";
import { HOST_UNDERLAY, SUBNET, withHost } from "./testbed_testing.ts";
import { ContainerNetwork } from "./network.ts";

Deno.test("attach and detach are idempotent; detach removes the namespace and the veth", async () => {
  await withHost(async (host) => {
    const net = host.network();
    // attach makes the host side itself when ensureHost was not called.
    const first = await net.attach("job-1", "10.210.3.9");
    const again = await net.attach("job-1", "10.210.3.9");
    deepStrictEqual(again, first);
    const veth = net.names.vethOf("job-1");
    const links = await host.onHost([
      "ip",
      "-o",
      "link",
      "show",
      "master",
      net.bridge,
    ]);
    strictEqual(links.includes(veth), true, links);
    const inside = await host.inNetns(first.netnsPath, [
      "ip",
      "-o",
      "-4",
      "addr",
      "show",
    ]);
    strictEqual(inside.includes("lo    inet 127.0.0.1/8"), true, inside);
    strictEqual(inside.includes("eth0    inet 10.210.3.9/24"), true, inside);
    const route = await host.inNetns(first.netnsPath, [
      "ip",
      "route",
      "show",
      "default",
    ]);
    strictEqual(
      route.trim().startsWith("default via 10.210.3.1 dev eth0"),
      true,
      route,
    );
    deepStrictEqual(await net.attached(), new Map([["job-1", "10.210.3.9"]]));

    // A half-made attach (its veth lost) is made again by the retry.
    await host.onHost(["ip", "link", "del", veth]);
    await net.attach("job-1", "10.210.3.9");
    await host.serve(first.netnsPath, 80, "job");
    strictEqual(
      await host.fetch(host.netnsPath(host.hostNetns), "http://10.210.3.9/"),
      "job",
    );

    await net.detach("job-1");
    await net.detach("job-1");
    await net.detach("never-attached");
    strictEqual(
      (await host.ownNetns()).includes(`${host.prefix}-a-job-1`),
      false,
    );
    const after = await host.onHost([
      "ip",
      "-o",
      "link",
      "show",
      "type",
      "veth",
    ]);
    strictEqual(after.includes(veth), false, after);
    deepStrictEqual(await net.attached(), new Map());
    await net.teardown();
    const bridge = await host.try(host.netnsPath(host.hostNetns), [
      "ip",
      "link",
      "show",
      "dev",
      net.bridge,
    ]);
    strictEqual(bridge.code === 0, false, "teardown removes the bridge");
    const table = await host.try(host.netnsPath(host.hostNetns), [
      "nft",
      "list",
      "table",
      "inet",
      net.table,
    ]);
    strictEqual(table.code === 0, false, "teardown removes the table");
  });
});

Deno.test("sweep after a crash of the agent removes what no owned alloc holds and keeps the rest working", async () => {
  await withHost(async (host) => {
    const before = host.network();
    await before.ensureHost();
    const kept = await before.attach("keep", "10.210.3.2");
    await before.attach("gone-1", "10.210.3.3");
    await before.attach("gone-2", "10.210.3.4");
    await before.publish("keep", { hostPort: 20001, containerPort: 80 });
    await before.publish("gone-1", { hostPort: 20002, containerPort: 80 });
    await host.serve(kept.netnsPath, 80, "kept");
    // A stray veth of the prefix whose namespace is gone already.
    const stray = before.names.vethOf("gone-3");
    await host.onHost([
      "ip",
      "link",
      "add",
      stray,
      "type",
      "veth",
      "peer",
      "name",
      "strayp",
    ]);

    // The agent crashes: a new object knows only what the system holds.
    const after = host.network();
    deepStrictEqual(
      await after.attached(),
      new Map([["gone-1", "10.210.3.3"], ["gone-2", "10.210.3.4"], [
        "keep",
        "10.210.3.2",
      ]]),
    );
    const removed = await after.sweep(new Set(["keep"]));
    deepStrictEqual(
      removed.sort(),
      [
        `netns ${host.prefix}-a-gone-1`,
        `netns ${host.prefix}-a-gone-2`,
        "publication tcp/20002 -> 10.210.3.3:80",
        `veth ${after.names.vethOf("gone-1")}`,
        `veth ${after.names.vethOf("gone-2")}`,
        `veth ${stray}`,
      ].sort(),
    );
    deepStrictEqual(await after.sweep(new Set(["keep"])), []);
    deepStrictEqual(await host.ownNetns(), [
      `${host.prefix}-a-keep`,
      `${host.prefix}-h`,
      `${host.prefix}-w`,
    ]);
    // The kept alloc's publication survived the new object's ensureHost.
    await after.ensureHost();
    const world = host.netnsPath(host.worldNetns);
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20001/`),
      "kept",
    );
    strictEqual(
      await host.fetch(world, `http://${HOST_UNDERLAY}:20002/`),
      null,
    );
    // Its address is still taken; the swept ones are free again.
    await rejects(
      after.attach("other", "10.210.3.2"),
      /already used by alloc keep/,
    );
    await after.attach("other", "10.210.3.3");
    await after.teardown();
  });
});

Deno.test("ensureHost() repairs a bridge or a table deleted by hand, and says so", async () => {
  await withHost(async (host) => {
    const net = host.network();
    await net.ensureHost();
    strictEqual(host.logs.length, 1);
    strictEqual(host.logs[0]!.level, "info");
    await net.ensureHost();
    strictEqual(host.logs.length, 1, "nothing to say when all is in place");
    const a = await net.attach("svc-1", "10.210.3.2");
    await net.publish("svc-1", { hostPort: 20010, containerPort: 80 });
    await host.serve(a.netnsPath, 80, "svc");
    const world = host.netnsPath(host.worldNetns);
    const url = `http://${HOST_UNDERLAY}:20010/`;
    strictEqual(await host.fetch(world, url), "svc");

    await host.onHost(["ip", "link", "del", net.bridge]);
    strictEqual(await host.fetch(world, url), null);
    await net.ensureHost();
    const bridgeLog = host.logs.at(-1)!;
    strictEqual(bridgeLog.level, "warn");
    strictEqual(
      bridgeLog.message.includes(`created bridge ${net.bridge}`),
      true,
      bridgeLog.message,
    );
    strictEqual(
      bridgeLog.message.includes("put veth"),
      true,
      bridgeLog.message,
    );
    strictEqual(await host.fetch(world, url), "svc");

    await host.onHost(["nft", "delete", "table", "inet", net.table]);
    strictEqual(await host.fetch(world, url), null);
    await net.ensureHost();
    const tableLog = host.logs.at(-1)!;
    strictEqual(tableLog.level, "warn");
    strictEqual(
      tableLog.message.includes(`created nft table inet ${net.table}`),
      true,
      tableLog.message,
    );
    strictEqual(await host.fetch(world, url), "svc");

    // The gateway address removed from the bridge comes back too.
    await host.onHost(["ip", "addr", "flush", "dev", net.bridge]);
    await net.ensureHost();
    strictEqual(
      host.logs.at(-1)!.message.includes("address 10.210.3.1/24"),
      true,
    );
    strictEqual(await host.fetch(world, url), "svc");
    await net.teardown();
  });
});

Deno.test("bad input is refused with a message that says what to do", async () => {
  await withHost(async (host) => {
    const net = host.network();
    await net.ensureHost();
    await rejects(
      net.attach("a", "10.210.4.2"),
      /not an alloc address of this node's subnet 10\.210\.3\.0\/24 \(10\.210\.3\.2 to 10\.210\.3\.254\)/,
    );
    await rejects(net.attach("a", "10.210.3.1"), /not an alloc address/); // the gateway
    await rejects(net.attach("a", "10.210.3.255"), /not an alloc address/); // broadcast
    await rejects(net.attach("a", "10.210.3.0"), /not an alloc address/);
    await rejects(net.attach("a", "10.210.3.300"), /not an IPv4 address/);
    await rejects(
      net.attach("../etc", "10.210.3.2"),
      /alloc id "..\/etc" must be/,
    );
    await rejects(net.attach("", "10.210.3.2"), /alloc id "" must be/);
    await rejects(net.attach("a b", "10.210.3.2"), /alloc id/);
    await net.attach("a", "10.210.3.2");
    await rejects(
      net.attach("b", "10.210.3.2"),
      /Address 10\.210\.3\.2 is already used by alloc a/,
    );
    await rejects(
      net.attach("a", "10.210.3.5"),
      /attached with address 10\.210\.3\.2, not 10\.210\.3\.5; detach it first/,
    );
    await net.attach("b", "10.210.3.3");
    await rejects(
      net.publish("a", { hostPort: 19999, containerPort: 80 }),
      /outside the node's pool 20000-29999/,
    );
    await rejects(
      net.publish("a", { hostPort: 30000, containerPort: 80 }),
      /outside the node's pool/,
    );
    await rejects(
      net.publish("a", { hostPort: 7443, containerPort: 80 }),
      /outside the node's pool/,
    );
    await rejects(
      net.publish("a", { hostPort: 20001, containerPort: 0 }),
      /container port 0 is not a port/,
    );
    await rejects(
      net.publish("a", {
        hostPort: 20001,
        containerPort: 80,
        protocol: "sctp" as "tcp",
      }),
      /must be "tcp" or "udp"/,
    );
    await rejects(
      net.publish("c", { hostPort: 20001, containerPort: 80 }),
      /Alloc c is not attached/,
    );
    await net.publish("a", { hostPort: 20001, containerPort: 80 });
    await rejects(
      net.publish("b", { hostPort: 20001, containerPort: 80 }),
      /already published for alloc a/,
    );
    // A refused request changed nothing: the table holds a's rule only.
    const rules = await host.onHost([
      "nft",
      "list",
      "chain",
      "inet",
      net.table,
      "prerouting",
    ]);
    strictEqual(rules.match(/dnat ip to/g)?.length, 1, rules);

    const options = { subnet: SUBNET, agentPorts: [7443], log: () => {} };
    throws(
      () => new ContainerNetwork({ ...options, subnet: "10.210.3.1/24" }),
      /host bits set; did you mean 10\.210\.3\.0\/24/,
    );
    throws(
      () => new ContainerNetwork({ ...options, subnet: "10.210.3.0/31" }),
      /must be a \/8 to \/30/,
    );
    throws(
      () => new ContainerNetwork({ ...options, bridge: "a-very-long-bridge" }),
      /interface name/,
    );
    throws(
      () => new ContainerNetwork({ ...options, bridge: 'x";' }),
      /interface name/,
    );
    throws(
      () => new ContainerNetwork({ ...options, netnsPrefix: "Mill-x" }),
      /netns prefix/,
    );
    throws(
      () => new ContainerNetwork({ ...options, table: "t; flush ruleset" }),
      /nft table name/,
    );
    throws(
      () => new ContainerNetwork({ ...options, agentPorts: [53] }),
      /also the DNS port/,
    );
    throws(
      () => new ContainerNetwork({ ...options, agentPorts: [70000] }),
      /not a TCP\/UDP port/,
    );
    throws(() => new ContainerNetwork({ ...options, mtu: 100 }), /mtu 100/);
    await net.teardown();
  });
});
