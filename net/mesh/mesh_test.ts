/**
 * Real meshes between network namespaces: wireguard-go (or the kernel's
 * WireGuard where present) configured by `Mesh`, traffic over TCP between
 * mesh addresses and container subnets.
 */
import {
  assertEquals,
  assertNotEquals,
  assertTrue,
  rejection,
} from "./_assert_test.ts";
import type { CommandRunner } from "./command.ts";
import { ensureMeshKey } from "./keys.ts";
import { Mesh, type MeshLog } from "./mesh.ts";
import { type Host, Testbed, type Wire } from "./testbed.ts";

const PROBE_PORT = 7001;

interface Node {
  readonly host: Host;
  readonly mesh: Mesh;
  readonly publicKey: string;
  readonly privateKey: string;
  readonly address: string;
  readonly subnet: string;
  readonly port: number;
  readonly commands: string[][];
  readonly logs: string[];
}

/** Records every argv a mesh runs, to check what went through processes. */
function recording(run: CommandRunner, into: string[][]): CommandRunner {
  return (argv, stdin, options) => {
    into.push([...argv]);
    return run(argv, stdin, options);
  };
}

async function node(
  bed: Testbed,
  host: Host,
  index: number,
  dir: string,
): Promise<Node> {
  const address = `10.210.${index}.1`;
  const subnet = `10.210.${index}.0/24`;
  // The container subnet on a bridge, and one "container" address on it.
  await bed.subnet(host, `${address}/24`, `10.210.${index}.7/32`);
  await Deno.mkdir(`${dir}/${index}`);
  const key = await ensureMeshKey(`${dir}/${index}`);
  const commands: string[][] = [];
  const logs: string[] = [];
  const log: MeshLog = (level, message) => logs.push(`${level} ${message}`);
  const port = 51820 + index;
  const mesh = new Mesh({
    interfaceName: bed.wgName(),
    listenPort: port,
    keyPath: key.keyPath,
    address,
    run: recording(host.run, commands),
    log,
  });
  return {
    host,
    mesh,
    publicKey: key.publicKey,
    privateKey: (await Deno.readTextFile(key.keyPath)).trim(),
    address,
    subnet,
    port,
    commands,
    logs,
  };
}

function peerOf(n: Node, underlay: string) {
  return {
    publicKey: n.publicKey,
    endpoint: `${underlay}:${n.port}`,
    allowedIps: [`${n.address}/32`, n.subnet],
  };
}

/** Two hosts on one wire, both meshes up and peered. */
async function pair(bed: Testbed, dir: string) {
  const hostA = await bed.host();
  const hostB = await bed.host();
  const wire = await bed.wire(hostA, hostB);
  const a = await node(bed, hostA, 1, dir);
  const b = await node(bed, hostB, 2, dir);
  await a.mesh.up();
  await b.mesh.up();
  await a.mesh.setPeers([peerOf(b, wire.addressB)]);
  await b.mesh.setPeers([peerOf(a, wire.addressA)]);
  await bed.probeServer(hostB, "0.0.0.0", PROBE_PORT);
  return { a, b, wire };
}

async function withBed(
  body: (bed: Testbed, dir: string) => Promise<void>,
): Promise<void> {
  const bed = new Testbed();
  const dir = await Deno.makeTempDir({ prefix: "mill-mesh-" });
  try {
    await body(bed, dir);
  } finally {
    await bed.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

async function ifindex(n: Node): Promise<number> {
  const out = await n.host.exec(
    "ip",
    "-j",
    "link",
    "show",
    "dev",
    n.mesh.interfaceName,
  );
  return (JSON.parse(out) as { ifindex: number }[])[0]!.ifindex;
}

async function routes(n: Node): Promise<{ dst: string; prefsrc?: string }[]> {
  const out = await n.host.exec(
    "ip",
    "-j",
    "-4",
    "route",
    "show",
    "dev",
    n.mesh.interfaceName,
  );
  return JSON.parse(out || "[]");
}

/** nft counters on B's underlay: the probe's TCP port and WireGuard's UDP. */
async function countUnderlay(host: Host, wire: Wire, udpPort: number) {
  const rules = [
    "table ip probe {",
    "  chain pre {",
    "    type filter hook prerouting priority -300;",
    `    iifname "${wire.devB}" tcp dport ${PROBE_PORT} counter`,
    `    iifname "${wire.devB}" udp dport ${udpPort} counter`,
    "  }",
    "}",
  ].join("\n");
  const loaded = await host.run(["nft", "-f", "-"], `${rules}\n`);
  assertEquals(loaded.code, 0, loaded.stderr);
  return async () => {
    const out = await host.exec("nft", "-j", "list", "table", "ip", "probe");
    const packets = (JSON.parse(out).nftables as {
      rule?: { expr: { counter?: { packets: number } }[] };
    }[])
      .flatMap((e) => e.rule ? [e.rule] : [])
      .map((r) => r.expr.find((x) => x.counter)!.counter!.packets);
    return { tcp: packets[0]!, udp: packets[1]! };
  };
}

Deno.test("two meshes reach each other's mesh addresses and subnets, encrypted", async () => {
  await withBed(async (bed, dir) => {
    const { a, b, wire } = await pair(bed, dir);
    const counters = await countUnderlay(b.host, wire, b.port);
    // The server sees the connection come from A's mesh address (route src).
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
    // A "container" address on B's subnet is reached too.
    assertEquals(
      await bed.probeUntil(a.host, "10.210.2.7", PROBE_PORT),
      a.address,
    );
    const seen = await counters();
    assertEquals(seen.tcp, 0, "plaintext TCP crossed the underlay");
    assertTrue(seen.udp > 0, "no WireGuard UDP crossed the underlay");
    // The counter does see plaintext TCP when it takes the bare underlay.
    assertEquals(
      await bed.probe(a.host, wire.addressB, PROBE_PORT),
      wire.addressA,
    );
    assertTrue((await counters()).tcp > 0, "the TCP counter counts nothing");
    const [peer] = await a.mesh.status();
    assertEquals(peer?.publicKey, b.publicKey);
    assertEquals(peer?.endpoint, `${wire.addressB}:${b.port}`);
    assertEquals(peer?.allowedIps, ["10.210.2.0/24", "10.210.2.1/32"]);
    assertEquals(peer?.persistentKeepaliveS, 25);
    assertTrue(peer?.latestHandshakeMs !== null, "no handshake");
    assertTrue(peer!.rxBytes > 0 && peer!.txBytes > 0);
    assertEquals(
      (await routes(a)).map((r) => [r.dst, r.prefsrc]).sort(),
      [["10.210.2.0/24", a.address], ["10.210.2.1", a.address]],
    );
    assertTrue(a.mesh.backend === "userspace" || a.mesh.backend === "kernel");
    // The private key is in no command line and no log line.
    for (const n of [a, b]) {
      assertTrue(
        n.commands.every((argv) => !argv.join(" ").includes(n.privateKey)),
      );
      assertTrue(n.logs.every((line) => !line.includes(n.privateKey)));
    }
  });
});

Deno.test("setPeers is idempotent; removing a peer cuts its traffic and routes", async () => {
  await withBed(async (bed, dir) => {
    const { a, b, wire } = await pair(bed, dir);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
    const before = await a.mesh.status();
    a.commands.length = 0;
    await a.mesh.setPeers([peerOf(b, wire.addressB)]);
    const changing = a.commands.filter((argv) =>
      (argv[0] === "wg" && argv[1] === "set") ||
      (argv[0] === "ip" && (argv.includes("replace") || argv.includes("del")))
    );
    assertEquals(changing, [], "a second identical setPeers changed things");
    assertEquals(
      (await a.mesh.status())[0]?.latestHandshakeMs,
      before[0]?.latestHandshakeMs,
    );
    await a.mesh.setPeers([]);
    assertEquals(await a.mesh.status(), []);
    assertEquals(await routes(a), []);
    assertEquals(await bed.probe(a.host, b.address, PROBE_PORT, 1500), null);
    // Back again: traffic flows.
    await a.mesh.setPeers([peerOf(b, wire.addressB)]);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
  });
});

Deno.test("a peer's new endpoint is taken and traffic recovers", async () => {
  await withBed(async (bed, dir) => {
    const { a, b, wire } = await pair(bed, dir);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
    // B moves to another underlay address.
    const moved = `${wire.prefix}.3`;
    await b.host.exec(
      "ip",
      "addr",
      "del",
      `${wire.addressB}/24`,
      "dev",
      wire.devB,
    );
    await b.host.exec("ip", "addr", "add", `${moved}/24`, "dev", wire.devB);
    await a.mesh.setPeers([peerOf(b, moved)]);
    assertEquals((await a.mesh.status())[0]?.endpoint, `${moved}:${b.port}`);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
  });
});

Deno.test("up() reuses a healthy interface, survives a restart, repairs a deleted one", async () => {
  await withBed(async (bed, dir) => {
    const { a, b } = await pair(bed, dir);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
    const index = await ifindex(a);
    await a.mesh.up();
    assertEquals(await ifindex(a), index, "up() twice rebuilt the interface");
    // An agent restart: a new Mesh object adopts what runs, peers included.
    const commands: string[][] = [];
    const again = new Mesh({
      interfaceName: a.mesh.interfaceName,
      listenPort: a.port,
      keyPath: `${dir}/1/wireguard.key`,
      address: a.address,
      run: recording(a.host.run, commands),
      log: () => {},
    });
    await again.up();
    assertEquals(await ifindex(a), index);
    assertEquals(commands.filter((c) => c[0] === "wireguard-go"), []);
    assertEquals((await again.status()).map((p) => p.publicKey), [b.publicKey]);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
    // Deleted by hand: up() makes it again with the peers it was given.
    await a.host.exec("ip", "link", "del", "dev", a.mesh.interfaceName);
    await a.mesh.up();
    assertNotEquals(await ifindex(a), index);
    assertEquals((await a.mesh.status()).map((p) => p.publicKey), [
      b.publicKey,
    ]);
    assertEquals(await routes(a).then((r) => r.length), 2);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
  });
});

Deno.test("up() completes a half-made interface and refuses a foreign one", async () => {
  await withBed(async (bed, dir) => {
    const host = await bed.host();
    await Deno.mkdir(`${dir}/k`);
    const key = await ensureMeshKey(`${dir}/k`);
    const name = bed.wgName();
    const mesh = new Mesh({
      interfaceName: name,
      listenPort: 51830,
      keyPath: key.keyPath,
      address: "10.210.9.1",
      run: host.run,
      log: () => {},
    });
    // Half made: created, but no key, port, address, and down.
    const made = await host.run([
      "ip",
      "link",
      "add",
      "dev",
      name,
      "type",
      "wireguard",
    ]);
    if (made.code !== 0) {
      await host.exec(
        "env",
        "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
        "wireguard-go",
        name,
      );
    }
    await mesh.up();
    const link =
      JSON.parse(await host.exec("ip", "-j", "addr", "show", "dev", name))[0];
    assertTrue(link.flags.includes("UP"));
    assertEquals(link.mtu, 1420);
    assertEquals(
      link.addr_info.filter((a: { family: string }) => a.family === "inet")
        .map((a: { local: string; prefixlen: number }) =>
          `${a.local}/${a.prefixlen}`
        ),
      ["10.210.9.1/32"],
    );
    assertEquals(
      (await host.exec("wg", "show", name, "public-key")).trim(),
      key.publicKey,
    );
    assertEquals(
      (await host.exec("wg", "show", name, "listen-port")).trim(),
      "51830",
    );
    // down() removes it all, and wireguard-go with it.
    await mesh.down();
    assertEquals((await host.run(["ip", "link", "show", "dev", name])).code, 1);
    assertEquals((await host.run(["wg", "show", name])).code !== 0, true);
    // An interface of that name that is not WireGuard is not touched.
    await host.exec("ip", "link", "add", name, "type", "bridge");
    const error = await rejection(() => mesh.up());
    assertTrue(error.message.includes("not WireGuard"), error.message);
    assertEquals((await host.run(["ip", "link", "show", "dev", name])).code, 0);
  });
});

Deno.test("bad peers are refused whole and change nothing", async () => {
  await withBed(async (bed, dir) => {
    const { a, b, wire } = await pair(bed, dir);
    const good = peerOf(b, wire.addressB);
    const bad = [
      { ...good, publicKey: "not-a-key" },
      { ...good, endpoint: "example.com:51820" },
      { ...good, endpoint: `${wire.addressB}` },
      { ...good, endpoint: `${wire.addressB}:0` },
      { ...good, allowedIps: ["10.210.2.1/24"] },
      { ...good, allowedIps: ["10.210.2.0/33"] },
      { ...good, allowedIps: ["0.0.0.0/0"] },
      { ...good, allowedIps: [`${a.address}/32`] },
      { ...good, publicKey: a.publicKey },
    ];
    for (const peer of bad) {
      const error = await rejection(() => a.mesh.setPeers([peer]));
      assertTrue(error.message.startsWith("mesh peers refused"), error.message);
    }
    const twice = await rejection(() => a.mesh.setPeers([good, good]));
    assertTrue(/listed twice/.test(twice.message), twice.message);
    // Still the good peer, and still working.
    assertEquals((await a.mesh.status()).map((p) => p.publicKey), [
      b.publicKey,
    ]);
    // A peer nobody answers for is taken; its handshake stays null.
    const silent = {
      publicKey: "QmFkIHBlZXIgdGhhdCBuZXZlciBhbnN3ZXJzIGF0IGE=",
      endpoint: `${wire.prefix}.99:51820`,
      allowedIps: ["10.210.3.0/24"],
    };
    await a.mesh.setPeers([good, silent]);
    const status = await a.mesh.status();
    assertEquals(status.length, 2);
    const quiet = status.find((p) => p.publicKey === silent.publicKey);
    assertEquals(quiet?.latestHandshakeMs, null);
    assertEquals(quiet?.endpoint, silent.endpoint);
    assertEquals(
      await bed.probeUntil(a.host, b.address, PROBE_PORT),
      a.address,
    );
  });
});
