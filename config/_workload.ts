/**
 * Reading `service` and `task` blocks into the model, with the checks that
 * concern one workload. Checks across workloads live in validate.ts.
 */

import type { BlockNode, Position } from "./cst.ts";
import type {
  RestartPolicy,
  RouteConfig,
  ServiceConfig,
  TaskConfig,
  VolumeConfig,
  WorkloadConfig,
} from "./types.ts";
import {
  BlockReader,
  type BlockSpec,
  capitalize,
  type Scope,
  type Sink,
} from "./_reader.ts";
import {
  CPU_MAX,
  DEFAULTS,
  DURATION_MS_MAX,
  MEMORY_BYTES_MIN,
  NAME_CHARS_MAX,
  PORT_MAX,
  PORT_MIN,
  REPLICAS_MAX,
  SIGNALS,
} from "./limits.ts";
import { suggest } from "./_suggest.ts";
import { checkImage } from "./_checks.ts";
import {
  readConstraint,
  readHealth,
  readLabel,
  readRoute,
  readVolume,
} from "./_nested.ts";
import { readEnv, readLabels } from "./_maps.ts";
import { readUpdate } from "./_update.ts";

/** A read workload plus the source positions cross-checks need. */
export interface ReadWorkload {
  readonly config: ServiceConfig | TaskConfig;
  readonly namePos: Position;
  readonly routes: readonly { route: RouteConfig; pos: Position }[];
  readonly volumes: readonly { volume: VolumeConfig; pos: Position }[];
}

const COMMON_FIELDS = [
  "image",
  "command",
  "args",
  "cpu",
  "memory",
  "stop_signal",
  "stop_grace_period",
] as const;
const MAP_FIELDS = ["env", "labels"] as const;
const COMMON_BLOCKS = ["volume", "constraint", ...MAP_FIELDS] as const;

const SERVICE_SPEC: BlockSpec = {
  attributes: [...COMMON_FIELDS, "port", "replicas", "restart", ...MAP_FIELDS],
  blocks: [...COMMON_BLOCKS, "health", "update", "route"],
};

function taskRefusal(field: string, why: string) {
  return {
    code: "config.not_for_task" as const,
    message:
      `Tasks take no "${field}": ${why}; remove it or make this a service`,
  };
}

const TASK_SPEC: BlockSpec = {
  attributes: [...COMMON_FIELDS, "timeout", ...MAP_FIELDS],
  blocks: [...COMMON_BLOCKS],
  refused: {
    route: {
      code: "config.route_on_task",
      message:
        "Tasks take no route: a task runs once and nothing routes traffic to it; remove the route block or make this a service",
    },
    port: taskRefusal("port", "a task is not reachable by other services"),
    replicas: taskRefusal("replicas", "a task runs once per spawn"),
    health: taskRefusal("health", "a task is not health checked"),
    restart: taskRefusal("restart", "a task is never restarted"),
    update: taskRefusal("update", "a task has no replicas to roll"),
  },
};

const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const RESTART_POLICIES: readonly RestartPolicy[] = [
  "always",
  "on-failure",
  "never",
];

/** The single label of `block`, checked against `pattern`. */

function validName(value: string): boolean {
  return NAME_PATTERN.test(value) && value.length <= NAME_CHARS_MAX;
}

const NAME_RULE =
  `use lowercase letters, digits and "-", starting and ending with a letter or digit, at most ${NAME_CHARS_MAX} characters`;

/** Reads a `service` or `task` block; undefined when its name is unusable. */
export function readWorkload(
  sink: Sink,
  block: BlockNode,
): ReadWorkload | undefined {
  const kind = block.type === "service" ? "service" : "task";
  const rawName = block.labels[0]?.value ?? "";
  const scope: Scope = {
    label: `${kind} "${rawName}"`,
    path: `${kind} "${rawName}"`,
  };
  const reader = new BlockReader(
    sink,
    scope,
    block.body,
    kind === "service" ? SERVICE_SPEC : TASK_SPEC,
  );
  const name = readLabel(reader, block, "name", validName, NAME_RULE);
  const common = readCommon(reader, block, name ?? rawName);
  const volumes = reader.blocks("volume").map((b) =>
    readVolume(sink, scope, b)
  );
  const known = volumes.filter((v) => v !== undefined);
  checkMounts(reader, known);
  const base = { ...common, volumes: known.map((v) => v.volume) };
  if (kind === "service") {
    const service = readService(reader, base);
    reader.finish();
    if (name === undefined) return undefined;
    checkReplicatedVolumes(reader, service.config, known);
    return {
      ...service,
      namePos: block.labels[0]?.pos ?? block.pos,
      volumes: known,
    };
  }
  const timeoutMs = reader.duration("timeout", 1000, DURATION_MS_MAX);
  reader.finish();
  if (name === undefined) return undefined;
  const task: TaskConfig = {
    kind: "task",
    ...base,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
  return {
    config: task,
    namePos: block.labels[0]?.pos ?? block.pos,
    routes: [],
    volumes: known,
  };
}

function readCommon(
  reader: BlockReader,
  block: BlockNode,
  name: string,
): Omit<WorkloadConfig, "volumes"> {
  const image = reader.string("image");
  if (image === undefined && !reader.present("image")) {
    reader.missing("image", 'image = "registry.example.com/app:v1"', block.pos);
  } else if (image !== undefined) {
    checkImage(reader, image.attr, image.value);
  }
  const command = reader.stringList("command");
  const args = reader.stringList("args");
  const signal = readSignal(reader);
  return {
    name,
    image: image?.value ?? "",
    ...(command === undefined ? {} : { command }),
    ...(args === undefined ? {} : { args }),
    env: readEnv(reader),
    cpu: reader.number("cpu", {
      integer: false,
      min: 0,
      max: CPU_MAX,
      minExclusive: true,
    }) ?? DEFAULTS.cpu,
    memoryBytes: reader.size("memory", MEMORY_BYTES_MIN) ??
      DEFAULTS.memoryBytes,
    constraints: reader.blocks("constraint").flatMap((b) =>
      readConstraint(reader, b) ?? []
    ),
    labels: readLabels(reader),
    stopSignal: signal ?? DEFAULTS.stopSignal,
    stopGracePeriodMs:
      reader.duration("stop_grace_period", 0, DURATION_MS_MAX) ??
        DEFAULTS.stopGracePeriodMs,
  };
}

function readService(
  reader: BlockReader,
  base: WorkloadConfig,
): { config: ServiceConfig; routes: { route: RouteConfig; pos: Position }[] } {
  const port = reader.number("port", {
    integer: true,
    min: PORT_MIN,
    max: PORT_MAX,
  });
  const replicas = reader.number("replicas", {
    integer: true,
    min: 1,
    max: REPLICAS_MAX,
  });
  const restart = reader.choice("restart", RESTART_POLICIES);
  const healthBlocks = reader.blocks("health");
  for (const extra of healthBlocks.slice(1)) {
    reader.report(
      "config.duplicate_field",
      `Block "health" appears twice in ${reader.scope.label}; keep one`,
      extra.pos,
      { field: "health" },
    );
  }
  const healthBlock = healthBlocks[0];
  const health = healthBlock === undefined
    ? undefined
    : readHealth(reader, healthBlock);
  const update = readUpdate(reader);
  const routes = reader.blocks("route").flatMap((b) => {
    const route = readRoute(reader, b);
    return route === undefined
      ? []
      : [{ route, pos: b.labels[0]?.pos ?? b.pos }];
  });
  const hasPortField = reader.attribute("port") !== undefined;
  if (!hasPortField) {
    const needing = healthBlock ?? reader.blocks("route")[0];
    if (needing !== undefined) {
      reader.report(
        "config.needs_port",
        `${
          capitalize(reader.scope.label)
        } has a ${needing.type} block but no port; add port = 8080 (the port the container listens on)`,
        needing.pos,
        { field: "port", expected: "a port" },
      );
    }
  }
  const config: ServiceConfig = {
    kind: "service",
    ...base,
    ...(port === undefined ? {} : { port }),
    replicas: replicas ?? DEFAULTS.replicas,
    ...(health === undefined ? {} : { health }),
    routes: routes.map((r) => r.route),
    restart: restart ?? DEFAULTS.restart,
    ...(update === undefined ? {} : { update }),
  };
  return { config, routes };
}

function readSignal(reader: BlockReader): string | undefined {
  const text = reader.string("stop_signal");
  if (text === undefined) return undefined;
  const upper = text.value.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (SIGNALS.includes(name)) return name;
  const near = suggest(name, SIGNALS);
  reader.report(
    "config.bad_signal",
    `${
      reader.where("stop_signal")
    } names no known signal, found "${text.value}"; ${
      near === undefined
        ? `use one of ${SIGNALS.join(", ")}`
        : `did you mean "${near}"?`
    }`,
    text.attr.value.pos,
    {
      field: "stop_signal",
      expected: "a signal name like SIGTERM",
      found: text.value,
    },
  );
  return undefined;
}

function checkMounts(
  reader: BlockReader,
  volumes: readonly { volume: VolumeConfig; pos: Position }[],
): void {
  const names = new Map<string, Position>();
  const paths = new Map<string, string>();
  for (const { volume, pos } of volumes) {
    const first = names.get(volume.name);
    if (first !== undefined) {
      reader.report(
        "config.duplicate_name",
        `Volume "${volume.name}" appears twice in ${reader.scope.label} (first at ${first.line}:${first.column}); rename one`,
        pos,
        { field: "volume", found: volume.name },
      );
      continue;
    }
    names.set(volume.name, pos);
    const other = paths.get(volume.path);
    if (other !== undefined) {
      reader.report(
        "config.duplicate_mount",
        `Volumes "${other}" and "${volume.name}" of ${reader.scope.label} are both mounted at "${volume.path}"; give each its own path`,
        pos,
        { field: "path", found: volume.path },
      );
    }
    paths.set(volume.path, volume.name);
  }
}

function checkReplicatedVolumes(
  reader: BlockReader,
  service: ServiceConfig,
  volumes: readonly { volume: VolumeConfig; pos: Position }[],
): void {
  if (service.replicas <= 1) return;
  for (const { volume, pos } of volumes) {
    if (volume.ephemeral) continue;
    reader.report(
      "config.replicated_volume",
      `Persistent volume "${volume.name}" of ${reader.scope.label} can attach to one node only, but the service has ${service.replicas} replicas; set replicas = 1 or make the volume ephemeral = true`,
      pos,
      { field: "replicas", expected: "1", found: String(service.replicas) },
    );
  }
}
