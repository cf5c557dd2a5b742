/**
 * Container start and stop through our client against `ctr`, side by side on
 * one private containerd, for a cached image: create + start to running, and
 * stop + delete (task, container, snapshot). Median of 20 each. Both sides
 * stop with SIGKILL (`ctr task rm -f` does) so that they do the same work.
 *
 * Each `ctr` call also pays a process start and a fresh dial of the socket,
 * which our connected client does not: the same run times `ctr version`
 * against the same socket (a few calls every round, median) and reports the
 * ratios both raw and with that cost taken off ctr's side (once for start,
 * `ctr run`; twice for stop, `ctr task rm` + `ctr container rm`).
 *
 * Last line: JSON with the medians, ratio_start / ratio_stop (ours / ctr)
 * and ratio_start_net / ratio_stop_net (ours / (ctr − its call overhead)).
 *
 * Run: scripts/deno run -A bench/containerd.ts [--rounds 20]
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
import { ctr } from "./_ctr.ts";
import { median } from "./_stats.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(Deno.args[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} needs a whole number above 0`);
  }
  return value;
}

const ROUNDS = arg("rounds", 20);
/** `ctr version` calls per round: the cost of one ctr call's start + dial. */
const VERSION_CALLS_PER_ROUND = 3;
/** ctr calls on each side of the comparison. */
const CTR_CALLS = { start: 1, stop: 2 } as const;
const IMAGE = "bench.local/mill-test/sleeper:1";

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
  const ctrCall: number[] = [];
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

    // A ctr call that does (almost) nothing: process start, dial, one tiny
    // Version RPC. Timed in every round, so that it sees the same drift.
    for (let i = 0; i < VERSION_CALLS_PER_ROUND; i++) {
      t0 = performance.now();
      await ctr(containerd.socketPath, ["version"]);
      ctrCall.push(performance.now() - t0);
    }
  }
  const m = {
    start: median(ours.start),
    stop: median(ours.stop),
    ctrStart: median(theirs.start),
    ctrStop: median(theirs.stop),
    ctrCall: median(ctrCall),
  };
  const ctrStartNet = m.ctrStart - CTR_CALLS.start * m.ctrCall;
  const ctrStopNet = m.ctrStop - CTR_CALLS.stop * m.ctrCall;
  const ms = (n: number) => Number(n.toFixed(2));
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  console.log(
    `ours: start ${ms(m.start)} ms, stop ${ms(m.stop)} ms; ctr: start ${
      ms(m.ctrStart)
    } ms, stop ${ms(m.ctrStop)} ms; ctr version ${
      ms(m.ctrCall)
    } ms (median of ${ctrCall.length})`,
  );
  const result = {
    bench: "containerd",
    rounds: ROUNDS,
    start_ms_median: ms(m.start),
    stop_ms_median: ms(m.stop),
    ctr_start_ms_median: ms(m.ctrStart),
    ctr_stop_ms_median: ms(m.ctrStop),
    ctr_call_ms_median: ms(m.ctrCall),
    ctr_calls: ctrCall.length,
    ctr_start_net_ms: ms(ctrStartNet),
    ctr_stop_net_ms: ms(ctrStopNet),
    ratio_start: ratio(m.start, m.ctrStart),
    ratio_stop: ratio(m.stop, m.ctrStop),
    ratio_start_net: ratio(m.start, ctrStartNet),
    ratio_stop_net: ratio(m.stop, ctrStopNet),
  };
  console.log(JSON.stringify(result));
} finally {
  client.close();
  await containerd.stop();
  await built.cleanup();
  await Deno.remove(fifoDir, { recursive: true });
}
