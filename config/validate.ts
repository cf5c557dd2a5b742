/**
 * From syntax tree to model: reads every block and runs the checks across
 * workloads (duplicate names, routes claimed twice, shared volumes). Every
 * problem is collected; none stops the others from being found.
 */

import type { BodyItem, Position } from "./cst.ts";
import type { ClusterConfig, ServiceConfig, TaskConfig } from "./types.ts";
import type { ConfigDiagnostic, ConfigNotice } from "./diagnostic.ts";
import { BlockReader, report, type Sink } from "./_reader.ts";
import { type ReadWorkload, readWorkload } from "./_workload.ts";
import { WORKLOADS_MAX } from "./limits.ts";

const ROOT = { label: "the file", path: "" };

/** What a file without services or tasks is told: it is valid, and empties the cluster. */
export const EMPTY_NOTICE =
  "The file defines no service or task; deploying it removes every service";

/**
 * The model of a well-formed tree, or every problem found in it, and the
 * notices of a valid one (a file with no service or task is valid).
 */
export function validateTree(
  body: readonly BodyItem[],
  file: string,
): {
  config: ClusterConfig;
  diagnostics: ConfigDiagnostic[];
  notices: ConfigNotice[];
} {
  const sink: Sink = { file, diagnostics: [] };
  const root = new BlockReader(sink, ROOT, body, {
    attributes: [],
    blocks: ["service", "task"],
  });
  const blocks = [...root.blocks("service"), ...root.blocks("task")]
    .sort((a, b) => a.pos.line - b.pos.line || a.pos.column - b.pos.column);
  root.finish();
  if (blocks.length > WORKLOADS_MAX) {
    const extra = blocks[WORKLOADS_MAX];
    if (extra !== undefined) {
      report(
        sink,
        undefined,
        "config.too_large",
        `A file holds at most ${WORKLOADS_MAX} services and tasks; split it`,
        extra.pos,
      );
    }
  }
  const workloads: ReadWorkload[] = [];
  for (const block of blocks.slice(0, WORKLOADS_MAX)) {
    const read = readWorkload(sink, block);
    if (read !== undefined) workloads.push(read);
  }
  const notices: ConfigNotice[] = [];
  if (body.every((item) => item.kind === "comment")) {
    const pos = firstPosition(body);
    notices.push({
      code: "config.empty",
      message: EMPTY_NOTICE,
      file,
      line: pos.line,
      column: pos.column,
    });
  }
  const config = collect(sink, workloads);
  checkRoutes(sink, workloads);
  checkSharedVolumes(sink, workloads);
  return { config, diagnostics: sink.diagnostics, notices };
}

function firstPosition(body: readonly BodyItem[]): Position {
  return body[0]?.pos ?? { line: 1, column: 1 };
}

function describe(config: ServiceConfig | TaskConfig): string {
  return `${config.kind} "${config.name}"`;
}

function at(pos: Position): string {
  return `${pos.line}:${pos.column}`;
}

/** Services and tasks keyed by name; a name used twice is reported. */
function collect(
  sink: Sink,
  workloads: readonly ReadWorkload[],
): ClusterConfig {
  const services: Record<string, ServiceConfig> = {};
  const tasks: Record<string, TaskConfig> = {};
  const seen = new Map<string, ReadWorkload>();
  for (const workload of workloads) {
    const { config } = workload;
    const first = seen.get(config.name);
    if (first !== undefined) {
      const same = first.config.kind === config.kind;
      report(
        sink,
        { label: describe(config), path: describe(config) },
        "config.duplicate_name",
        same
          ? `${
            capitalized(config.kind)
          } "${config.name}" is defined twice (first at ${
            at(first.namePos)
          }); rename one`
          : `${capitalized(config.kind)} "${config.name}" has the name of ${
            describe(first.config)
          } (at ${
            at(first.namePos)
          }); services and tasks share one namespace, rename one`,
        workload.namePos,
        { found: config.name },
      );
      continue;
    }
    seen.set(config.name, workload);
    if (config.kind === "service") services[config.name] = config;
    else tasks[config.name] = config;
  }
  return { services, tasks };
}

function capitalized(kind: string): string {
  return kind === "service" ? "Service" : "Task";
}

function checkRoutes(sink: Sink, workloads: readonly ReadWorkload[]): void {
  const claimed = new Map<string, { owner: ReadWorkload; pos: Position }>();
  for (const workload of workloads) {
    for (const { route, pos } of workload.routes) {
      const key = `${route.host}\u0000${route.path}`;
      const first = claimed.get(key);
      if (first === undefined) {
        claimed.set(key, { owner: workload, pos });
        continue;
      }
      const scope = describe(workload.config);
      const by = first.owner === workload
        ? `this service (at ${at(first.pos)})`
        : `${describe(first.owner.config)} (at ${at(first.pos)})`;
      report(
        sink,
        { label: scope, path: `${scope} > route "${route.host}"` },
        "config.duplicate_route",
        `Route "${route.host}" path "${route.path}" of ${scope} is already claimed by ${by}; change the host or the path`,
        pos,
        { field: "route", found: `${route.host}${route.path}` },
      );
    }
  }
}

/** A persistent volume belongs to one workload; shared scratch is fine. */
function checkSharedVolumes(
  sink: Sink,
  workloads: readonly ReadWorkload[],
): void {
  const owners = new Map<
    string,
    { owner: ReadWorkload; pos: Position; ephemeral: boolean }
  >();
  for (const workload of workloads) {
    for (const { volume, pos } of workload.volumes) {
      const first = owners.get(volume.name);
      if (first === undefined) {
        owners.set(volume.name, {
          owner: workload,
          pos,
          ephemeral: volume.ephemeral,
        });
        continue;
      }
      if (first.owner === workload || (first.ephemeral && volume.ephemeral)) {
        continue;
      }
      const scope = describe(workload.config);
      report(
        sink,
        { label: scope, path: `${scope} > volume "${volume.name}"` },
        "config.shared_volume",
        `Volume "${volume.name}" of ${scope} is already used by ${
          describe(first.owner.config)
        } (at ${
          at(first.pos)
        }); a persistent volume belongs to one service, give this one another name`,
        pos,
        { field: "volume", found: volume.name },
      );
    }
  }
}
