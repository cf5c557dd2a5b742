/**
 * TCP throughput between two nodes (network namespaces joined by a veth
 * pair), on four paths, with iperf3 (one stream, `--seconds` each, rounds
 * rotating the order so that drift on the shared machine hits all alike):
 *
 * - container: what mill gives containers: an alloc's namespace on one
 *   node to an alloc's on the other, each behind its node's bridge and
 *   veth (net/containers, as the agent sets them up), through mill's Mesh;
 * - mesh: mill's Mesh node to node, mesh address to mesh address;
 * - veth: the bare underlay, no WireGuard;
 * - wg: the anchor, wireguard-go configured by hand with `wg` alone on the
 *   same wire (the same MTU 1420, keepalive 25 s, its own port and keys),
 *   started in a session of its own as the mesh starts its wireguard-go.
 *
 * Each WireGuard run checks that the interface's transfer counter grew by
 * at least what iperf3 sent, so that the figure is the encrypted path's.
 *
 * Last line: JSON with the medians in Gbit/s, ratio_to_wg (container ÷ wg)
 * and ratio_to_veth (container ÷ veth); ≥ 1 means mill's path is faster.
 *
 * Run: scripts/deno run -A bench/mesh.ts [--seconds 5] [--rounds 3]
 */
import { ContainerNetwork, localRunner } from "../net/containers/mod.ts";
import { ensureMeshKey, Mesh } from "../net/mesh/mod.ts";
import { type Host, Testbed } from "../net/mesh/testbed.ts";
import { intArg, median, round } from "./_stats.ts";

const SECONDS = intArg("seconds", 5);
const ROUNDS = intArg("rounds", 3);
const IPERF_PORT = 5201;
const MTU = 1420;

type Path = "container" | "mesh" | "veth" | "wg";

/** `argv` in `netns`, not through the mesh's runner (it caps a command at 30 s). */
async function inNetns(netnsPath: string, argv: string[]): Promise<string> {
  const out = await new Deno.Command("nsenter", {
    args: [`--net=${netnsPath}`, ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}${text}`,
    );
  }
  return text;
}

async function txBytes(host: Host, name: string): Promise<number> {
  const out = await host.exec("wg", "show", name, "transfer");
  return out.trim().split("\n").reduce(
    (sum, line) => sum + Number(line.split("\t")[2] ?? 0),
    0,
  );
}

/** wireguard-go set up by hand, the way its docs show, on `port`. */
async function handMade(
  host: Host,
  name: string,
  dir: string,
  address: string,
  port: number,
): Promise<string> {
  // Started as the mesh starts its own (in a session of its own), so that
  // both get the same share of the CPU from the scheduler's autogroups.
  const started = await host.run(["wireguard-go", name], undefined, {
    env: { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" },
    detached: true,
  });
  if (started.code !== 0) throw new Error(`wireguard-go: ${started.stderr}`);
  const key = (await host.exec("wg", "genkey")).trim();
  const keyFile = `${dir}/${name}.key`;
  await Deno.writeTextFile(keyFile, `${key}\n`, { mode: 0o600 });
  await host.exec(
    "wg",
    "set",
    name,
    "listen-port",
    String(port),
    "private-key",
    keyFile,
  );
  await host.exec("ip", "addr", "add", `${address}/24`, "dev", name);
  await host.exec("ip", "link", "set", "dev", name, "mtu", String(MTU), "up");
  const child = new Deno.Command("wg", {
    args: ["pubkey"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${key}\n`));
  await writer.close();
  return new TextDecoder().decode((await child.output()).stdout).trim();
}

/** An iperf3 server in `netnsPath`, once it listens. */
async function iperfServer(netnsPath: string): Promise<Deno.ChildProcess> {
  // --forceflush: iperf3 buffers its output when it is a pipe.
  const server = new Deno.Command("nsenter", {
    args: [
      `--net=${netnsPath}`,
      "iperf3",
      "-s",
      "--forceflush",
      "-p",
      String(IPERF_PORT),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const timer = setTimeout(() => reader.cancel(), 10_000);
  for (let seen = ""; !seen.includes("listening");) {
    const { value, done } = await reader.read();
    if (done) throw new Error("iperf3 -s did not start listening");
    seen += value;
  }
  clearTimeout(timer);
  reader.releaseLock();
  server.stdout.pipeTo(new WritableStream()).catch(() => {});
  server.stderr.pipeTo(new WritableStream()).catch(() => {});
  return server;
}

const bed = new Testbed();
const dir = await Deno.makeTempDir({ prefix: "mill-bench-mesh-" });
const networks: ContainerNetwork[] = [];
const servers: Deno.ChildProcess[] = [];
try {
  const a = await bed.host();
  const b = await bed.host();
  const wire = await bed.wire(a, b);

  // mill's mesh.
  const meshes: Mesh[] = [];
  const keys = [];
  for (const [i, host] of [a, b].entries()) {
    await Deno.mkdir(`${dir}/${i}`);
    const key = await ensureMeshKey(`${dir}/${i}`);
    keys.push(key);
    meshes.push(
      new Mesh({
        interfaceName: bed.wgName(),
        listenPort: 51820,
        keyPath: key.keyPath,
        address: `10.210.${i + 1}.1`,
        mtu: MTU,
        run: host.run,
        log: () => {},
      }),
    );
  }
  const [meshA, meshB] = meshes as [Mesh, Mesh];
  await meshA.up();
  await meshB.up();
  // Each node's container network, as the agent makes it: the bridge holds
  // the subnet's first address (the mesh address), an alloc namespace and
  // veth per container.
  const allocNetns: string[] = [];
  for (const [i, host] of [a, b].entries()) {
    const network = new ContainerNetwork({
      subnet: `10.210.${i + 1}.0/24`,
      netnsPrefix: `mb${host.netns.replace(/[^a-z0-9]/g, "").slice(-8)}`,
      meshInterface: meshes[i]!.interfaceName,
      agentPorts: [7946],
      mtu: MTU,
      run: localRunner(["nsenter", `--net=/var/run/netns/${host.netns}`]),
      log: () => {},
    });
    networks.push(network);
    await network.ensureHost();
    allocNetns.push(
      (await network.attach(`bench${i}`, `10.210.${i + 1}.10`)).netnsPath,
    );
  }
  await meshA.setPeers([{
    publicKey: keys[1]!.publicKey,
    endpoint: `${wire.addressB}:51820`,
    allowedIps: ["10.210.2.1/32", "10.210.2.0/24"],
  }]);
  await meshB.setPeers([{
    publicKey: keys[0]!.publicKey,
    endpoint: `${wire.addressA}:51820`,
    allowedIps: ["10.210.1.1/32", "10.210.1.0/24"],
  }]);

  // The anchor: wireguard-go and wg by hand.
  const wgA = bed.wgName();
  const wgB = bed.wgName();
  const pubA = await handMade(a, wgA, dir, "10.99.0.1", 51821);
  const pubB = await handMade(b, wgB, dir, "10.99.0.2", 51821);
  const peer = (
    pub: string,
    endpoint: string,
    ip: string,
  ) => [
    "peer",
    pub,
    "endpoint",
    endpoint,
    "allowed-ips",
    ip,
    "persistent-keepalive",
    "25",
  ];
  await a.exec(
    "wg",
    "set",
    wgA,
    ...peer(pubB, `${wire.addressB}:51821`, "10.99.0.2/32"),
  );
  await b.exec(
    "wg",
    "set",
    wgB,
    ...peer(pubA, `${wire.addressA}:51821`, "10.99.0.1/32"),
  );

  const hostNetns = (host: Host) => `/var/run/netns/${host.netns}`;
  servers.push(await iperfServer(hostNetns(b)));
  servers.push(await iperfServer(allocNetns[1]!));

  const target: Record<Path, string> = {
    container: "10.210.2.10",
    mesh: "10.210.2.1",
    veth: wire.addressB,
    wg: "10.99.0.2",
  };
  const client: Record<Path, string> = {
    container: allocNetns[0]!,
    mesh: hostNetns(a),
    veth: hostNetns(a),
    wg: hostNetns(a),
  };
  const counter: Record<Path, () => Promise<number>> = {
    container: () => txBytes(a, meshA.interfaceName),
    mesh: () => txBytes(a, meshA.interfaceName),
    veth: async () =>
      await txBytes(a, meshA.interfaceName) + await txBytes(a, wgA),
    wg: () => txBytes(a, wgA),
  };
  const runs: Record<Path, number[]> = {
    container: [],
    mesh: [],
    veth: [],
    wg: [],
  };
  const order: Path[] = ["container", "mesh", "veth", "wg"];
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < order.length; k++) {
      const path = order[(r + k) % order.length]!;
      const before = await counter[path]();
      const report = JSON.parse(
        await inNetns(client[path], [
          "iperf3",
          "-c",
          target[path],
          "-p",
          String(IPERF_PORT),
          "-t",
          String(SECONDS),
          "-J",
        ]),
      );
      const sent = report.end.sum_sent.bytes as number;
      const grew = await counter[path]() - before;
      // The tunnels must have carried it; the bare path must not have used them.
      if (path === "veth" ? grew > sent / 100 : grew < sent) {
        throw new Error(
          `${path}: WireGuard counters grew by ${grew} bytes for ${sent} sent`,
        );
      }
      const gbps = report.end.sum_received.bits_per_second / 1e9;
      runs[path].push(gbps);
      console.error(`round ${r + 1} ${path}: ${round(gbps, 3)} Gbit/s`);
    }
  }
  const handshake = (await meshA.status())[0]?.latestHandshakeMs;
  if (handshake === null || handshake === undefined) {
    throw new Error("mesh peer has no handshake");
  }
  const m = {
    container: median(runs.container),
    veth: median(runs.veth),
    mesh: median(runs.mesh),
    wg: median(runs.wg),
  };
  console.log(JSON.stringify({
    bench: "mesh",
    container_gbps: round(m.container, 3),
    mesh_gbps: round(m.mesh, 3),
    veth_gbps: round(m.veth, 3),
    wg_gbps: round(m.wg, 3),
    ratio_to_wg: round(m.container / m.wg, 3),
    ratio_to_veth: round(m.container / m.veth, 3),
    ratio_mesh_to_wg: round(m.mesh / m.wg, 3),
    mesh_backend: meshA.backend,
    mtu: MTU,
    seconds: SECONDS,
    rounds: ROUNDS,
  }));
} finally {
  for (const server of servers) {
    try {
      server.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await server.status;
  }
  for (const network of networks) {
    await network.teardown().catch((error) =>
      console.error(`teardown: ${error}`)
    );
  }
  await bed.dispose();
  await Deno.remove(dir, { recursive: true });
}
