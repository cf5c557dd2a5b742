/**
 * Time from `POST /v1/deploy` to its `done` event for 1, 10 and 50 services
 * (one replica each, the `http` test image already cached) on a real
 * one-node agent, against the same containers started one after another by
 * `ctr run -d` on the same containerd, in the same run. Both sides give the
 * containers the same cpu and memory ceilings and host networking; the bench
 * services have no health block (running counts as healthy), since `ctr run
 * -d` waits for nothing either. Median of `ROUNDS` per size.
 *
 * Runs itself in a network namespace of its own so that the host ports its
 * containers take cannot collide with anything else on the machine.
 * Last line: JSON with the medians and `ratio_1`, `ratio_10`, `ratio_50`
 * (ours / ctr serial). Goals: ratio_1 ≤ 1.5, ratio_50 < 1.
 */
import { startAgentBed, waitFor } from "../tests/agent/_bed.ts";
import { readEvents } from "../tests/deploy/_sse.ts";

const SIZES = [1, 10, 50] as const;
const ROUNDS = 3;
const CPU = 0.05;
const MEMORY_BYTES = 32 * 1024 * 1024;
/** ctr's containers listen here (ours come from the pool at 20000). */
const CTR_PORT_BASE = 30000;
const NETNS_ENV = "MILL_BENCH_IN_NETNS";

if (Deno.env.get(NETNS_ENV) !== "1") {
  Deno.exit(await runInOwnNetwork());
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function config(image: string, services: number): string {
  const blocks: string[] = [];
  for (let i = 0; i < services; i++) {
    blocks.push(`service "s${i}" {
  image = "${image}"
  port = 8080
  cpu = ${CPU}
  memory = "32M"
  stop_grace_period = "2s"
}`);
  }
  return blocks.join("\n");
}

/** A config with no service: deploying it stops every bench service. */
function teardownConfig(image: string): string {
  return `task "idle" {\n  image = "${image}"\n}`;
}

const bed = await startAgentBed();
const image = bed.bed.images.http;
const socket = bed.bed.containerd.socketPath;
const teardown = teardownConfig(image);

async function deploy(text: string): Promise<number> {
  const t0 = performance.now();
  const response = await bed.api("/v1/deploy?file=bench.mill", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: text,
  });
  if (response.status !== 200) {
    throw new Error(
      `deploy answered ${response.status}: ${await response.text()}`,
    );
  }
  const events = await readEvents(response);
  const elapsed = performance.now() - t0;
  const last = events.at(-1);
  if (last?.event !== "done") {
    throw new Error(`deploy did not finish: ${JSON.stringify(last)}`);
  }
  return elapsed;
}

async function ctr(args: string[]): Promise<void> {
  const result = await new Deno.Command("ctr", {
    args: ["-a", socket, "-n", "mill", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `ctr ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
}

async function ctrSerial(services: number, tag: string): Promise<number> {
  const ids = Array.from({ length: services }, (_, i) => `bench-${tag}-${i}`);
  const t0 = performance.now();
  for (const [i, id] of ids.entries()) {
    await ctr([
      "run",
      "-d",
      "--net-host",
      "--runc-root",
      bed.bed.containerd.runcRoot,
      "--cgroup",
      `${bed.bed.containerd.cgroupParent}/${id}`,
      "--cpus",
      String(CPU),
      "--memory-limit",
      String(MEMORY_BYTES),
      "--env",
      `PORT=${CTR_PORT_BASE + i}`,
      image,
      id,
    ]);
  }
  const elapsed = performance.now() - t0;
  for (const id of ids) {
    await ctr(["task", "rm", "-f", id]);
    await ctr(["container", "rm", id]);
  }
  return elapsed;
}

try {
  await waitFor(
    "a leader with a coordinator",
    () =>
      (bed.agent.leader?.coordinator ?? null) !== null &&
      bed.agent.state().nodes.size === 1,
  );
  // Warm-up: the image pulled (cached from here on), every path exercised once.
  await deploy(config(image, 1));
  await deploy(teardown);
  await ctrSerial(1, "warm");
  const ours = new Map<number, number[]>();
  const theirs = new Map<number, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      ours.set(size, [
        ...ours.get(size) ?? [],
        await deploy(config(image, size)),
      ]);
      await deploy(teardown);
      theirs.set(size, [
        ...theirs.get(size) ?? [],
        await ctrSerial(size, `${round}-${size}`),
      ]);
    }
  }
  const result: Record<string, number> = { rounds: ROUNDS };
  for (const size of SIZES) {
    const mine = median(ours.get(size) ?? []);
    const serial = median(theirs.get(size) ?? []);
    result[`deploy_ms_${size}`] = Number(mine.toFixed(1));
    result[`ctr_serial_ms_${size}`] = Number(serial.toFixed(1));
    result[`ratio_${size}`] = Number((mine / serial).toFixed(3));
  }
  console.log(JSON.stringify(result));
} finally {
  await bed.stop();
}

/** Re-runs this script inside a fresh network namespace; its exit status. */
async function runInOwnNetwork(): Promise<number> {
  const name = `mill-b-${crypto.randomUUID().slice(0, 8)}`;
  const ip = (...args: string[]) =>
    new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  const added = await ip("netns", "add", name);
  if (!added.success) {
    throw new Error(`ip netns add: ${new TextDecoder().decode(added.stderr)}`);
  }
  try {
    await ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
    // nsenter, not `ip netns exec`, which remounts /sys and hides cgroups.
    const child = await new Deno.Command("nsenter", {
      args: [
        `--net=/var/run/netns/${name}`,
        Deno.execPath(),
        "run",
        "-A",
        new URL(import.meta.url).pathname,
      ],
      env: { [NETNS_ENV]: "1" },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    return child.code;
  } finally {
    await ip("netns", "delete", name);
  }
}
