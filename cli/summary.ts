/** Figures of a valid config for `mill validate` (pure). */

import { type ClusterConfig, secretRefs } from "../config/mod.ts";

export interface ConfigSummary {
  readonly services: number;
  /** Replicas over all services. */
  readonly replicas: number;
  readonly tasks: number;
  /** Cores reserved by all service replicas. */
  readonly cpu: number;
  readonly memoryBytes: number;
  /** One run of each task. */
  readonly taskCpu: number;
  readonly taskMemoryBytes: number;
  readonly routes: readonly { host: string; path: string; service: string }[];
  readonly volumes: readonly {
    name: string;
    sizeBytes?: number;
    ephemeral: boolean;
    owner: string;
  }[];
  /** Secret names referenced by env values, with the workloads using them. */
  readonly secrets: readonly { name: string; users: readonly string[] }[];
}

export function summarize(config: ClusterConfig): ConfigSummary {
  const services = Object.values(config.services);
  const tasks = Object.values(config.tasks);
  const workloads = [...services, ...tasks];
  const secrets = new Map<string, string[]>();
  for (const w of workloads) {
    for (const value of Object.values(w.env)) {
      for (const name of secretRefs(value)) {
        const users = secrets.get(name) ?? [];
        const who = `${w.kind} "${w.name}"`;
        if (!users.includes(who)) users.push(who);
        secrets.set(name, users);
      }
    }
  }
  return {
    services: services.length,
    replicas: services.reduce((n, s) => n + s.replicas, 0),
    tasks: tasks.length,
    cpu: services.reduce((n, s) => n + s.cpu * s.replicas, 0),
    memoryBytes: services.reduce((n, s) => n + s.memoryBytes * s.replicas, 0),
    taskCpu: tasks.reduce((n, t) => n + t.cpu, 0),
    taskMemoryBytes: tasks.reduce((n, t) => n + t.memoryBytes, 0),
    routes: services.flatMap((s) =>
      s.routes.map((r) => ({ host: r.host, path: r.path, service: s.name }))
    ),
    volumes: workloads.flatMap((w) =>
      w.volumes.map((v) => ({
        name: v.name,
        ...(v.sizeBytes === undefined ? {} : { sizeBytes: v.sizeBytes }),
        ephemeral: v.ephemeral,
        owner: `${w.kind} "${w.name}"`,
      }))
    ),
    secrets: [...secrets.entries()].sort(([a], [b]) => a.localeCompare(b)).map((
      [name, users],
    ) => ({ name, users })),
  };
}
