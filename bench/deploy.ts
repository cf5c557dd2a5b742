/**
 * Deploy bench: mill against two anchors on one real node, in the same run.
 *
 * - **Deploy** of 1, 10 and 50 one-replica services (the `http` test image,
 *   cached; 0.05 cpu, 32 MiB, a 2 s stop grace) until every replica answers
 *   its health check (HTTP GET /health every 100 ms, mill's minimum
 *   interval): mill from `POST /v1/deploy` to its `done` event (the services
 *   carry that health block); the same containers by hand with `ctr run -d`
 *   on the same containerd, each probed until it answers, 8 at once (mill's
 *   `STARTS_PER_NODE_MAX`: the fair anchor) and one after another (context);
 *   and a single-node Docker Swarm (Debian's `docker.io`, installed when
 *   missing, on a dockerd of its own that trusts the same local registry):
 *   one `docker stack deploy` until every service has a running task that
 *   answers the same check over its published port.
 * - **Rolling update** of a 3-replica service with that health check (its env
 *   changed), with a request loop counting failed requests meanwhile (one
 *   client, a request every 20 ms at most, the endpoint list fetched afresh
 *   each time: for mill the healthy allocs of `GET /v1/allocs`, as DNS hands
 *   them out, there being no proxy yet; for swarm the running tasks it wants
 *   running, as its DNS round robin does). mill rolls one replica at a time,
 *   start-first when the node has room (its default here) and, as context,
 *   stop-first; swarm with `docker service update`, its default stop-first
 *   and `--update-order start-first`, until it reports the update completed
 *   and the new tasks answer.
 *
 * Medians of ROUNDS deploys per size and of ROLL_ROUNDS rolls per variant;
 * failed and total requests are summed over a variant's rolls. Runs itself
 * in a network namespace of its own (host ports, dockerd's bridges and
 * iptables stay there); dockerd, its swarm and services are removed
 * afterwards, also on failure. Last line: one JSON object. `ratio_N` = mill /
 * parallel ctr, `ratio_swarm_N` = mill / swarm, `ratio_swarm_roll` = mill's
 * roll / swarm's start-first roll. Goals: ratio_1 ≤ 1.5, ratio_50 < 1,
 * ratio_swarm_50 < 1, no failed request during mill's start-first roll.
 */
import { startAgentBed, waitFor } from "../tests/agent/_bed.ts";
import { runAnchor } from "./_anchor.ts";
import { type Docker, ensureDockerInstalled, startDocker } from "./_docker.ts";
import { median, round1 } from "./_measure.ts";
import {
  CPU,
  MEMORY_BYTES,
  millDeploy,
  millEndpoints,
  rollConfig,
  servicesConfig,
  teardownConfig,
} from "./_mill.ts";
import { inOwnNetwork, runInOwnNetwork } from "./_netns.ts";
import { type LoopCount, withRequestLoop } from "./_roll.ts";
import {
  createRollService,
  initSwarm,
  removeService,
  swarmDeploy,
  swarmEndpoints,
  swarmRoll,
  swarmTeardown,
} from "./_swarm.ts";

if (!inOwnNetwork()) {
  Deno.exit(await runInOwnNetwork(new URL(import.meta.url)));
}

const SIZES = [1, 10, 50] as const;
const ROUNDS = 3;
const ROLL_ROUNDS = 3;
/** mill's STARTS_PER_NODE_MAX (node/deploy/_rollout.ts). */
const ANCHOR_PARALLEL = 8;

const log = (line: string) => console.error(`bench: ${line}`);

const bed = await startAgentBed();
const image = bed.bed.images.http;
const teardown = teardownConfig(image);
const anchor = {
  socket: bed.bed.containerd.socketPath,
  runcRoot: bed.bed.containerd.runcRoot,
  cgroupParent: bed.bed.containerd.cgroupParent,
  image,
  cpu: CPU,
  memoryBytes: MEMORY_BYTES,
};
let docker: Docker | null = null;
let cleaned: Promise<void> | null = null;
const cleanup = () =>
  cleaned ??= (async () => {
    await docker?.stop().catch((e) => log(`docker stop: ${e}`));
    await bed.stop();
  })();
const onSignal = () => {
  log("interrupted: cleaning up");
  cleanup().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

interface RollFigures {
  ms: number;
  count: LoopCount;
}

async function rolls(
  endpoints: () => Promise<string[]>,
  roll: (version: number) => Promise<number>,
  what: string,
): Promise<RollFigures> {
  const times: number[] = [];
  const count: LoopCount = { requests: 0, failed: 0 };
  for (let version = 1; version <= ROLL_ROUNDS; version++) {
    const { result, count: one } = await withRequestLoop(
      endpoints,
      () => roll(version),
    );
    log(
      `${what} roll ${version}: ${
        round1(result)
      } ms, ${one.failed}/${one.requests} failed`,
    );
    times.push(result);
    count.requests += one.requests;
    count.failed += one.failed;
  }
  return { ms: median(times), count };
}

try {
  await waitFor(
    "a leader with a coordinator",
    () =>
      (bed.agent.leader?.coordinator ?? null) !== null &&
      bed.agent.state().nodes.size === 1,
  );
  if (await ensureDockerInstalled()) log("installed docker.io");
  const swarm = docker = await startDocker(bed.bed.registry.host);
  await initSwarm(swarm, image);
  // Warm-up: every path exercised once, the image cached on both runtimes.
  await millDeploy(bed, servicesConfig(image, 1));
  await millDeploy(bed, teardown);
  await runAnchor(anchor, 1, ANCHOR_PARALLEL, "warm");
  await swarmDeploy(swarm, image, 1);
  await swarmTeardown(swarm);

  const times = new Map<string, number[]>();
  const add = (key: string, ms: number) => {
    times.set(key, [...times.get(key) ?? [], ms]);
    log(`${key}: ${round1(ms)}`);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      add(
        `deploy_ms_${size}`,
        await millDeploy(bed, servicesConfig(image, size)),
      );
      await millDeploy(bed, teardown);
      add(
        `anchor_parallel_ms_${size}`,
        await runAnchor(anchor, size, ANCHOR_PARALLEL, `p${round}-${size}`),
      );
      add(
        `anchor_serial_ms_${size}`,
        await runAnchor(anchor, size, 1, `s${round}-${size}`),
      );
      add(`swarm_ms_${size}`, await swarmDeploy(swarm, image, size));
      await swarmTeardown(swarm);
    }
  }

  await millDeploy(bed, rollConfig(image, "web", 0));
  const mill = await rolls(
    () => millEndpoints(bed, "web"),
    (v) => millDeploy(bed, rollConfig(image, "web", v)),
    "mill",
  );
  await millDeploy(bed, rollConfig(image, "webx", 0, "stop-first"));
  const millStopFirst = await rolls(
    () => millEndpoints(bed, "webx"),
    (v) => millDeploy(bed, rollConfig(image, "webx", v, "stop-first")),
    "mill stop-first",
  );
  await millDeploy(bed, teardown);
  await createRollService(swarm, image, "web", "stop-first");
  const swarmStopFirst = await rolls(
    () => swarmEndpoints(swarm, "web"),
    (v) => swarmRoll(swarm, "web", v),
    "swarm",
  );
  await removeService(swarm, "web");
  await createRollService(swarm, image, "webs", "start-first");
  const swarmStartFirst = await rolls(
    () => swarmEndpoints(swarm, "webs"),
    (v) => swarmRoll(swarm, "webs", v),
    "swarm start-first",
  );
  await removeService(swarm, "webs");

  const result: Record<string, number> = {
    rounds: ROUNDS,
    anchor_parallel: ANCHOR_PARALLEL,
  };
  const med = (key: string) => median(times.get(key) ?? []);
  for (const size of SIZES) {
    const mine = med(`deploy_ms_${size}`);
    for (const key of ["deploy", "anchor_parallel", "anchor_serial", "swarm"]) {
      result[`${key}_ms_${size}`] = round1(med(`${key}_ms_${size}`));
    }
    result[`ratio_${size}`] = Number(
      (mine / med(`anchor_parallel_ms_${size}`)).toFixed(3),
    );
    result[`ratio_serial_${size}`] = Number(
      (mine / med(`anchor_serial_ms_${size}`)).toFixed(3),
    );
    result[`ratio_swarm_${size}`] = Number(
      (mine / med(`swarm_ms_${size}`)).toFixed(3),
    );
  }
  const rollKeys: [string, RollFigures][] = [
    ["roll", mill],
    ["roll_stop_first", millStopFirst],
    ["swarm_roll", swarmStopFirst],
    ["swarm_roll_start_first", swarmStartFirst],
  ];
  result.roll_rounds = ROLL_ROUNDS;
  for (const [key, figures] of rollKeys) {
    result[`${key}_ms`] = round1(figures.ms);
    result[`${key}_failed_requests`] = figures.count.failed;
    result[`${key}_requests`] = figures.count.requests;
  }
  result.ratio_swarm_roll = Number((mill.ms / swarmStartFirst.ms).toFixed(3));
  console.log(JSON.stringify(result));
} finally {
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  await cleanup();
}
