/**
 * The deploy bench's Docker Swarm side, on a private dockerd (`_docker.ts`):
 * a single-node swarm; N one-replica services as one `docker stack deploy`,
 * timed until every service has a running task answering the health check
 * over its published port; a 3-replica service rolled by `docker service
 * update`, timed until swarm reports the update completed and every new
 * task answers. Services publish in host mode and use DNS round robin
 * (`endpoint_mode: dnsrr`): the routing mesh and VIPs need IPVS, which not
 * every kernel has, and mill has no proxy yet either.
 */
import type { Docker } from "./_docker.ts";
import { ANSWER_DEADLINE_MS, answers, PROBE_MS, sleep } from "./_measure.ts";
import { CPU, MEMORY_BYTES, STOP_GRACE_S } from "./_mill.ts";

const STACK = "bench";
const ROLL_NETWORK = "bench-roll";

interface Task {
  readonly ID: string;
  readonly ServiceID: string;
  readonly DesiredState: string;
  readonly Status: {
    readonly State: string;
    readonly PortStatus?: { readonly Ports?: { PublishedPort: number }[] };
  };
  readonly Spec: { readonly ContainerSpec: { readonly Env?: string[] } };
}

interface Service {
  readonly ID: string;
  readonly UpdateStatus?: { State: string; StartedAt?: string };
}

function filters(value: Record<string, string[]>): string {
  return `filters=${encodeURIComponent(JSON.stringify(value))}`;
}

/** The published host port of a running task, or null. */
function addressOf(task: Task): string | null {
  const port = task.Status.PortStatus?.Ports?.[0]?.PublishedPort;
  return task.Status.State === "running" && port !== undefined
    ? `127.0.0.1:${port}`
    : null;
}

export async function initSwarm(docker: Docker, image: string): Promise<void> {
  await docker.cli(["swarm", "init", "--advertise-addr", "127.0.0.1"]);
  // Warm-up, as on mill's side: the image cached from here on.
  await docker.cli(["pull", "-q", image]);
}

function stackFile(image: string, services: number): string {
  const entries: Record<string, unknown> = {};
  for (let i = 0; i < services; i++) {
    entries[`s${i}`] = {
      image,
      environment: { PORT: "8080" },
      ports: [{ target: 8080, protocol: "tcp", mode: "host" }],
      stop_grace_period: `${STOP_GRACE_S}s`,
      deploy: {
        endpoint_mode: "dnsrr",
        resources: { limits: { cpus: String(CPU), memory: "32M" } },
      },
    };
  }
  // JSON is YAML.
  return JSON.stringify({ version: "3.8", services: entries });
}

/**
 * `docker stack deploy` of `services` services; the ms until the command
 * has returned and every service has a running task that answered.
 */
export async function swarmDeploy(
  docker: Docker,
  image: string,
  services: number,
): Promise<number> {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, stackFile(image, services));
    const t0 = performance.now();
    let deployed = false;
    const deploy = docker.cli(["stack", "deploy", "-c", file, STACK])
      .then(() => deployed = true);
    const answered = new Set<string>();
    const serving = new Set<string>();
    const deadline = t0 + ANSWER_DEADLINE_MS;
    while (!deployed || serving.size < services) {
      if (performance.now() > deadline) {
        throw new Error(
          `swarm: ${serving.size} of ${services} services answered within ${ANSWER_DEADLINE_MS} ms`,
        );
      }
      const started = performance.now();
      const tasks = await docker.get<Task[]>(
        `/tasks?${filters({ "desired-state": ["running"] })}`,
      );
      await Promise.all(tasks.map(async (task) => {
        const address = addressOf(task);
        if (address === null || answered.has(task.ID)) return;
        if (await answers(address)) {
          answered.add(task.ID);
          serving.add(task.ServiceID);
        }
      }));
      await Promise.race([
        deploy,
        sleep(Math.max(0, PROBE_MS - (performance.now() - started))),
      ]);
    }
    await deploy;
    return performance.now() - t0;
  } finally {
    await Deno.remove(file);
  }
}

/** `docker stack rm`, then waits until its services, containers and network are gone. */
export async function swarmTeardown(docker: Docker): Promise<void> {
  await docker.cli(["stack", "rm", STACK]);
  const deadline = Date.now() + ANSWER_DEADLINE_MS;
  const label = [`com.docker.stack.namespace=${STACK}`];
  for (;;) {
    const [services, containers, networks] = await Promise.all([
      docker.get<unknown[]>(`/services?${filters({ label })}`),
      docker.get<unknown[]>(`/containers/json?all=1&${filters({ label })}`),
      docker.get<unknown[]>(`/networks?${filters({ label })}`),
    ]);
    if (services.length + containers.length + networks.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`swarm: stack ${STACK} still there after stack rm`);
    }
    await sleep(200);
  }
}

/** Tasks of `name` swarm wants running that run: what its DNS hands out. */
export async function swarmEndpoints(
  docker: Docker,
  name: string,
): Promise<string[]> {
  const tasks = await docker.get<Task[]>(
    `/tasks?${filters({ service: [name], "desired-state": ["running"] })}`,
  );
  return tasks.flatMap((task) => addressOf(task) ?? []);
}

/** Waits until `name` has `replicas` running tasks with `V=version` that answer. */
async function waitVersionServing(
  docker: Docker,
  name: string,
  version: number,
  replicas: number,
): Promise<void> {
  const deadline = performance.now() + ANSWER_DEADLINE_MS;
  for (;;) {
    const tasks = await docker.get<Task[]>(
      `/tasks?${filters({ service: [name], "desired-state": ["running"] })}`,
    );
    const current = tasks.filter((task) =>
      (task.Spec.ContainerSpec.Env ?? []).includes(`V=${version}`)
    ).flatMap((task) => addressOf(task) ?? []);
    if (
      current.length === replicas && tasks.length === replicas &&
      (await Promise.all(current.map((a) => answers(a)))).every(Boolean)
    ) return;
    if (performance.now() > deadline) {
      throw new Error(`swarm: ${name} V=${version} not serving in time`);
    }
    await sleep(PROBE_MS);
  }
}

/** The rolled service: 3 replicas of `image` with `V=0`, serving. */
export async function createRollService(
  docker: Docker,
  image: string,
  name: string,
  order: "start-first" | "stop-first",
): Promise<void> {
  const networks = await docker.get<unknown[]>(
    `/networks?${filters({ name: [ROLL_NETWORK] })}`,
  );
  if (networks.length === 0) {
    await docker.cli(["network", "create", "-d", "overlay", ROLL_NETWORK]);
  }
  await docker.cli([
    "service",
    "create",
    "--detach",
    "--quiet",
    "--name",
    name,
    "--replicas",
    "3",
    "--network",
    ROLL_NETWORK,
    "--endpoint-mode",
    "dnsrr",
    "--publish",
    "mode=host,target=8080",
    "--env",
    "PORT=8080",
    "--env",
    "V=0",
    "--limit-cpu",
    String(CPU),
    "--limit-memory",
    String(MEMORY_BYTES),
    "--stop-grace-period",
    `${STOP_GRACE_S}s`,
    "--update-order",
    order,
    image,
  ]);
  await waitVersionServing(docker, name, 0, 3);
}

/**
 * `docker service update --env-add V=<version>` of `name`; the ms until
 * swarm reports the update completed and the 3 new tasks answer.
 */
export async function swarmRoll(
  docker: Docker,
  name: string,
  version: number,
): Promise<number> {
  const t0 = performance.now();
  const wallT0 = Date.now();
  await docker.cli([
    "service",
    "update",
    "--detach",
    "--quiet",
    "--env-add",
    `V=${version}`,
    name,
  ]);
  const deadline = t0 + ANSWER_DEADLINE_MS;
  for (;;) {
    const service = await docker.get<Service>(`/services/${name}`);
    const status = service.UpdateStatus;
    const ours = status?.StartedAt !== undefined &&
      Date.parse(status.StartedAt) >= wallT0 - 1_000;
    if (ours && status.State === "completed") break;
    if (ours && status.State !== "updating") {
      throw new Error(`swarm: update of ${name} ended ${status.State}`);
    }
    if (performance.now() > deadline) {
      throw new Error(`swarm: update of ${name} not completed in time`);
    }
    await sleep(PROBE_MS);
  }
  await waitVersionServing(docker, name, version, 3);
  return performance.now() - t0;
}

/** `docker service rm`, then waits until its containers are gone. */
export async function removeService(
  docker: Docker,
  name: string,
): Promise<void> {
  await docker.cli(["service", "rm", name]);
  const deadline = Date.now() + ANSWER_DEADLINE_MS;
  const label = [`com.docker.swarm.service.name=${name}`];
  while (
    (await docker.get<unknown[]>(
      `/containers/json?all=1&${filters({ label })}`,
    ))
      .length > 0
  ) {
    if (Date.now() > deadline) {
      throw new Error(`swarm: ${name}'s containers still there after rm`);
    }
    await sleep(200);
  }
}
