/**
 * Container start and stop through our client against `ctr`, side by side on
 * one private containerd, for a cached image: create + start to running, and
 * stop + delete (task, container, snapshot). Median of 20 each. Both sides
 * stop with SIGKILL (`ctr task rm -f` does) so that they do the same work.
 * Last line: JSON with the medians and ratio_start / ratio_stop (ours / ctr).
 */
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
} from "../containerd/mod.ts";
import {
  buildTestImages,
  packLayoutArchive,
  startContainerd,
} from "../tests/containerd/testbed.ts";

const ROUNDS = 20;
const IMAGE = "bench.local/mill-test/sleeper:1";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function ctr(socketPath: string, args: string[]): Promise<void> {
  const result = await new Deno.Command("ctr", {
    args: ["-a", socketPath, "-n", "mill", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `ctr ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
}

const containerd = await startContainerd();
const built = await buildTestImages();
const client = new ContainerdClient(containerd.socketPath);
const fifoDir = await Deno.makeTempDir({ prefix: "mill-bench-fifo-" });
try {
  const images = new ImageService(client);
  const archive = `${fifoDir}/sleeper.tar`;
  await Deno.writeFile(
    archive,
    await packLayoutArchive(built.layoutDir, { only: "sleeper", name: IMAGE }),
  );
  await images.importArchive(archive);
  const runner = new ContainerRunner(client, images, {
    fifoDir,
    runcRoot: containerd.runcRoot,
    host: detectHostFacts(containerd.cgroupParent),
  });
  const ours = { start: [] as number[], stop: [] as number[] };
  const theirs = { start: [] as number[], stop: [] as number[] };
  const suffix = crypto.randomUUID().slice(0, 6);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate sides so that drift on the shared machine hits both.
    const id = `bench-ours-${suffix}-${round}`;
    let t0 = performance.now();
    await runner.create({ id, image: IMAGE });
    await runner.start(id);
    ours.start.push(performance.now() - t0);
    t0 = performance.now();
    await runner.stop(id, { signal: "SIGKILL", gracePeriodMs: 10_000 });
    await runner.remove(id);
    ours.stop.push(performance.now() - t0);

    const ctrId = `bench-ctr-${suffix}-${round}`;
    t0 = performance.now();
    await ctr(containerd.socketPath, [
      "run",
      "-d",
      "--runc-root",
      containerd.runcRoot,
      "--cgroup",
      `${containerd.cgroupParent}/${ctrId}`,
      IMAGE,
      ctrId,
    ]);
    theirs.start.push(performance.now() - t0);
    t0 = performance.now();
    await ctr(containerd.socketPath, ["task", "rm", "-f", ctrId]);
    await ctr(containerd.socketPath, ["container", "rm", ctrId]);
    theirs.stop.push(performance.now() - t0);
  }
  const result = {
    rounds: ROUNDS,
    start_ms_median: Number(median(ours.start).toFixed(2)),
    stop_ms_median: Number(median(ours.stop).toFixed(2)),
    ctr_start_ms_median: Number(median(theirs.start).toFixed(2)),
    ctr_stop_ms_median: Number(median(theirs.stop).toFixed(2)),
    ratio_start: Number((median(ours.start) / median(theirs.start)).toFixed(3)),
    ratio_stop: Number((median(ours.stop) / median(theirs.stop)).toFixed(3)),
  };
  console.log(JSON.stringify(result));
} finally {
  client.close();
  await containerd.stop();
  await built.cleanup();
  await Deno.remove(fifoDir, { recursive: true });
}
