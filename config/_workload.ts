/**
 * Reading `service` and `task` blocks into the model, with the checks that
 * concern one workload. Checks across workloads live in validate.ts.
 */

import type { BlockNode, Position } from "./cst.ts";
import type {
  HealthConfig,
  PlacementConstraint,
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
  interpolationPos,
  type MapEntry,
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
  THRESHOLD_MAX,
} from "./limits.ts";
import { findInterpolations } from "./secrets.ts";
import { formatDuration } from "./units.ts";
import { suggest } from "./_suggest.ts";
import { checkImage, checkLabel, validHost } from "./_checks.ts";

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
  blocks: [...COMMON_BLOCKS, "health", "route"],
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
  },
};

const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const VOLUME_NAME_PATTERN = /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESTART_POLICIES: readonly RestartPolicy[] = [
  "always",
  "on-failure",
  "never",
];

/** The single label of `block`, checked against `pattern`. */
export function readLabel(
  reader: BlockReader,
  block: BlockNode,
  what: string,
  valid: (value: string) => boolean,
  rule: string,
): string | undefined {
  const [first, second] = block.labels;
  if (first === undefined) {
    reader.report(
      "config.missing_label",
      `Block "${block.type}" needs a ${what}; write ${block.type} "${
        what === "host" ? "app.example.com" : "name"
      }" { … }`,
      block.pos,
      { expected: `a ${what}` },
    );
    return undefined;
  }
  if (second !== undefined) {
    reader.report(
      "config.extra_label",
      `Block ${block.type} "${first.value}" takes one label, found another: "${second.value}"; remove it`,
      second.pos,
      { found: second.value },
    );
  }
  if (!valid(first.value)) {
    reader.report(
      "config.bad_name",
      `${
        capitalize(block.type)
      } ${what} "${first.value}" is not valid; ${rule}`,
      first.pos,
      { expected: rule, found: first.value },
    );
    return undefined;
  }
  return first.value;
}

function validName(value: string): boolean {
  return NAME_PATTERN.test(value) && value.length <= NAME_CHARS_MAX;
}

function validVolumeName(value: string): boolean {
  return VOLUME_NAME_PATTERN.test(value) && value.length <= NAME_CHARS_MAX;
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
  };
  return { config, routes };
}

function nested(reader: BlockReader, block: BlockNode, label?: string): Scope {
  const name = label === undefined ? block.type : `${block.type} "${label}"`;
  return {
    label: `${name} of ${reader.scope.label}`,
    path: `${reader.scope.path} > ${name}`,
  };
}

const HEALTH_SPEC: BlockSpec = {
  attributes: [
    "path",
    "interval",
    "timeout",
    "healthy_threshold",
    "unhealthy_threshold",
    "deadline",
  ],
  blocks: [],
};

function readHealth(parent: BlockReader, block: BlockNode): HealthConfig {
  const sink = parent.sink;
  const reader = new BlockReader(
    sink,
    nested(parent, block),
    block.body,
    HEALTH_SPEC,
  );
  const d = DEFAULTS.health;
  const path = reader.string("path");
  if (path !== undefined && !path.value.startsWith("/")) {
    reader.report(
      "config.bad_value",
      `${reader.where("path")} must start with "/", found "${path.value}"`,
      path.attr.value.pos,
      {
        field: "path",
        expected: 'a path starting with "/"',
        found: path.value,
      },
    );
  }
  const intervalMs = reader.duration("interval", 100, DURATION_MS_MAX) ??
    d.intervalMs;
  const timeoutMs = reader.duration("timeout", 100, DURATION_MS_MAX) ??
    d.timeoutMs;
  const timeoutAttr = reader.attribute("timeout");
  if (timeoutMs > intervalMs) {
    reader.report(
      "config.out_of_range",
      `${reader.where("timeout")} must not exceed the interval ("${
        formatDuration(intervalMs)
      }"), found "${
        formatDuration(timeoutMs)
      }"; shorten the timeout or lengthen the interval`,
      timeoutAttr?.value.pos ?? block.pos,
      {
        field: "timeout",
        expected: `at most ${formatDuration(intervalMs)}`,
        found: formatDuration(timeoutMs),
      },
    );
  }
  const threshold = { integer: true, min: 1, max: THRESHOLD_MAX };
  const health: HealthConfig = {
    ...(path === undefined ? {} : { path: path.value }),
    intervalMs,
    timeoutMs,
    healthyThreshold: reader.number("healthy_threshold", threshold) ??
      d.healthyThreshold,
    unhealthyThreshold: reader.number("unhealthy_threshold", threshold) ??
      d.unhealthyThreshold,
    deadlineMs: reader.duration("deadline", 1000, DURATION_MS_MAX) ??
      d.deadlineMs,
  };
  for (const label of block.labels.slice(0, 1)) {
    reader.report(
      "config.extra_label",
      `Block "health" takes no label, found "${label.value}"; write health { … }`,
      label.pos,
      { found: label.value },
    );
  }
  reader.finish();
  return health;
}

const ROUTE_SPEC: BlockSpec = { attributes: ["path"], blocks: [] };

function readRoute(
  parent: BlockReader,
  block: BlockNode,
): RouteConfig | undefined {
  const host = block.labels[0]?.value;
  const reader = new BlockReader(
    parent.sink,
    nested(parent, block, host),
    block.body,
    ROUTE_SPEC,
  );
  const checkedHost = readLabel(
    reader,
    block,
    "host",
    validHost,
    'use a DNS name like "app.example.com" (letters, digits, "-" and "."; no port or scheme)',
  );
  const path = reader.string("path");
  reader.finish();
  if (path !== undefined && !/^\/[^\s?#]*$/.test(path.value)) {
    reader.report(
      "config.bad_value",
      `${
        reader.where("path")
      } must be a path prefix starting with "/" without spaces, "?" or "#", found "${path.value}"`,
      path.attr.value.pos,
      {
        field: "path",
        expected: 'a path like "/" or "/api"',
        found: path.value,
      },
    );
    return undefined;
  }
  if (checkedHost === undefined) return undefined;
  return {
    host: checkedHost.toLowerCase(),
    path: path?.value ?? DEFAULTS.routePath,
  };
}

const VOLUME_SPEC: BlockSpec = {
  attributes: ["path", "size", "ephemeral"],
  blocks: [],
};

function readVolume(
  sink: Sink,
  parentScope: Scope,
  block: BlockNode,
): { volume: VolumeConfig; pos: Position } | undefined {
  const label = block.labels[0]?.value;
  const scope: Scope = {
    label: `volume "${label ?? ""}" of ${parentScope.label}`,
    path: `${parentScope.path} > volume "${label ?? ""}"`,
  };
  const reader = new BlockReader(sink, scope, block.body, VOLUME_SPEC);
  const name = readLabel(
    reader,
    block,
    "name",
    validVolumeName,
    `use lowercase letters, digits, "-" and "_", at most ${NAME_CHARS_MAX} characters`,
  );
  const path = reader.string("path");
  if (path === undefined && !reader.present("path")) {
    reader.missing(
      "path",
      'path = "/data" (where the container sees it)',
      block.pos,
    );
  } else if (
    path !== undefined && (!path.value.startsWith("/") || path.value === "/")
  ) {
    reader.report(
      "config.bad_value",
      `${
        reader.where("path")
      } must be an absolute path other than "/", found "${path.value}"`,
      path.attr.value.pos,
      {
        field: "path",
        expected: 'an absolute path like "/data"',
        found: path.value,
      },
    );
  }
  const sizeBytes = reader.size("size", 1);
  const written = reader.bool("ephemeral");
  const ephemeral = written ?? DEFAULTS.volumeEphemeral;
  const unknown = written === undefined && reader.present("ephemeral");
  if (!ephemeral && !unknown && !reader.present("size")) {
    reader.report(
      "config.missing_size",
      `Persistent ${scope.label} needs a size; add size = "10Gi", or set ephemeral = true for scratch space`,
      block.pos,
      { field: "size", expected: 'a size like "10Gi"' },
    );
  }
  reader.finish();
  if (name === undefined || path === undefined) return undefined;
  const volume: VolumeConfig = {
    name,
    path: path.value,
    ...(sizeBytes === undefined ? {} : { sizeBytes }),
    ephemeral,
  };
  return { volume, pos: block.labels[0]?.pos ?? block.pos };
}

const CONSTRAINT_SPEC: BlockSpec = {
  attributes: ["attribute", "operator", "value"],
  blocks: [],
};

function readConstraint(
  parent: BlockReader,
  block: BlockNode,
): PlacementConstraint | undefined {
  const reader = new BlockReader(
    parent.sink,
    nested(parent, block),
    block.body,
    CONSTRAINT_SPEC,
  );
  const attribute = reader.string("attribute");
  const operator = reader.choice("operator", ["==", "!="] as const) ?? "==";
  const value = reader.string("value");
  if (attribute === undefined && !reader.present("attribute")) {
    reader.missing("attribute", 'attribute = "node.label.zone"', block.pos);
  }
  if (value === undefined && !reader.present("value")) {
    reader.missing("value", 'value = "…"', block.pos);
  }
  reader.finish();
  if (attribute === undefined || value === undefined) return undefined;
  if (
    attribute.value !== "node.name" &&
    !/^node\.label\.[A-Za-z0-9]([A-Za-z0-9._\/-]*[A-Za-z0-9])?$/.test(
      attribute.value,
    )
  ) {
    reader.report(
      "config.bad_value",
      `${
        reader.where("attribute")
      } must be "node.name" or "node.label.<key>", found "${attribute.value}"`,
      attribute.attr.value.pos,
      {
        field: "attribute",
        expected: '"node.name" or "node.label.<key>"',
        found: attribute.value,
      },
    );
    return undefined;
  }
  return { attribute: attribute.value, operator, value: value.value };
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

/** Scalar map values as strings; lists and maps reported. */
function mapValue(
  reader: BlockReader,
  field: string,
  entry: MapEntry,
): string | undefined {
  const v = entry.value;
  if (v.kind === "string") return v.value;
  if (v.kind === "number") return v.raw;
  if (v.kind === "bool") return String(v.value);
  reader.wrongType(
    { name: `${field}.${entry.key}`, value: v },
    "a string",
  );
  return undefined;
}

function readEnv(reader: BlockReader): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of reader.mapEntries("env")) {
    if (!ENV_NAME_PATTERN.test(entry.key)) {
      reader.report(
        "config.bad_env_name",
        `Environment variable name "${entry.key}" in ${reader.scope.label} is not valid; use letters, digits and "_", not starting with a digit`,
        entry.keyPos,
        {
          field: `env.${entry.key}`,
          expected: "a name like DATABASE_URL",
          found: entry.key,
        },
      );
      continue;
    }
    const value = mapValue(reader, "env", entry);
    if (value === undefined) continue;
    if (
      entry.value.kind === "string" && !checkEnvInterpolations(reader, entry)
    ) continue;
    env[entry.key] = value;
  }
  return env;
}

function checkEnvInterpolations(reader: BlockReader, entry: MapEntry): boolean {
  const expr = entry.value;
  if (expr.kind !== "string") return true;
  for (const i of findInterpolations(expr.value)) {
    if (i.secret !== undefined) continue;
    const message = i.unterminated
      ? `Environment variable "${entry.key}" of ${reader.scope.label} has an unclosed "\${"; close it with "}" or write $\${ for a literal "\${"`
      : `Environment variable "${entry.key}" of ${reader.scope.label} can only interpolate \${secret(name)}, found "${i.text}"; write $\${ for a literal "\${"`;
    reader.report(
      "config.bad_interpolation",
      message,
      interpolationPos(expr, i.text),
      {
        field: `env.${entry.key}`,
        expected: "${secret(name)}",
        found: i.text,
      },
    );
    return false;
  }
  return true;
}

function readLabels(reader: BlockReader): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of reader.mapEntries("labels")) {
    if (!checkLabel(reader, entry)) continue;
    const value = mapValue(reader, "labels", entry);
    if (value !== undefined) labels[entry.key] = value;
  }
  return labels;
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
