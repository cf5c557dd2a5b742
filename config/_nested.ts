/**
 * Blocks nested in a service or task: health, route, volume, constraint.
 */

import type { BlockNode, Position } from "./cst.ts";
import type {
  HealthConfig,
  PlacementConstraint,
  RouteConfig,
  VolumeConfig,
} from "./types.ts";
import {
  BlockReader,
  type BlockSpec,
  capitalize,
  type Scope,
  type Sink,
} from "./_reader.ts";
import {
  DEFAULTS,
  DURATION_MS_MAX,
  NAME_CHARS_MAX,
  THRESHOLD_MAX,
} from "./limits.ts";
import { formatDuration } from "./units.ts";
import { validHost } from "./_checks.ts";

const VOLUME_NAME_PATTERN = /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/;

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

function validVolumeName(value: string): boolean {
  return VOLUME_NAME_PATTERN.test(value) && value.length <= NAME_CHARS_MAX;
}

/** The scope of `block` nested in `reader`'s block. */
export function nested(
  reader: BlockReader,
  block: BlockNode,
  label?: string,
): Scope {
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
    "failure_threshold",
  ],
  blocks: [],
};

export function readHealth(
  parent: BlockReader,
  block: BlockNode,
): HealthConfig {
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
  const interval = reader.duration("interval", 100, DURATION_MS_MAX);
  const intervalMs = interval ?? d.intervalMs;
  const timeout = reader.duration("timeout", 100, DURATION_MS_MAX);
  // The default timeout follows a short interval; a written one must fit it.
  const timeoutMs = timeout ?? Math.min(d.timeoutMs, intervalMs);
  const intervalBroken = interval === undefined && reader.present("interval");
  if (timeout !== undefined && !intervalBroken) {
    checkHealthTimeout(reader, intervalMs, timeout, interval !== undefined);
  }
  const threshold = { integer: true, min: 1, max: THRESHOLD_MAX };
  const failureThreshold = reader.number("failure_threshold", threshold);
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
    ...(failureThreshold === undefined ? {} : { failureThreshold }),
  };
  refuseLabels(reader, block);
  reader.finish();
  return health;
}

/** A written timeout longer than the interval (written or default). */
function checkHealthTimeout(
  reader: BlockReader,
  intervalMs: number,
  timeoutMs: number,
  intervalWritten: boolean,
): void {
  if (timeoutMs <= intervalMs) return;
  const interval = formatDuration(intervalMs);
  const timeout = formatDuration(timeoutMs);
  const which = intervalWritten
    ? `the interval ("${interval}")`
    : `the default interval ("${interval}")`;
  const pos = reader.attribute("timeout")?.value.pos;
  if (pos === undefined) return;
  reader.report(
    "config.out_of_range",
    `${
      reader.where("timeout")
    } must not exceed ${which}, found "${timeout}"; shorten the timeout or ${
      intervalWritten ? "lengthen the interval" : "set a longer interval"
    }`,
    pos,
    { field: "timeout", expected: `at most ${interval}`, found: timeout },
  );
}

/** Blocks such as `health` and `constraint` take no label. */
export function refuseLabels(reader: BlockReader, block: BlockNode): void {
  const label = block.labels[0];
  if (label === undefined) return;
  reader.report(
    "config.extra_label",
    `Block "${block.type}" takes no label, found "${label.value}"; write ${block.type} { … }`,
    label.pos,
    { found: label.value },
  );
}

const ROUTE_SPEC: BlockSpec = { attributes: ["path", "balance"], blocks: [] };

/** How the proxy spreads a route's requests over the replicas. */
export const ROUTE_BALANCES: readonly NonNullable<RouteConfig["balance"]>[] = [
  "round-robin",
  "least-connections",
];

export function readRoute(
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
  const balance = reader.choice("balance", ROUTE_BALANCES);
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
    ...(balance === undefined ? {} : { balance }),
  };
}

const VOLUME_SPEC: BlockSpec = {
  attributes: ["path", "size", "ephemeral"],
  blocks: [],
};

export function readVolume(
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

export function readConstraint(
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
  refuseLabels(reader, block);
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
