/** The configs, nodes and statistics bench/scheduler's figures share. */
import type { ClusterConfig, ServiceConfig } from "../config/types.ts";
import type { NodeRegisterCommand } from "../raft/mod.ts";

const MIB = 1024 ** 2;

/** `services` services of `replicas` each (cpu 0.25/0.5/1, 256 MiB–1 GiB, a port). */
export function clusterConfig(
  services: number,
  replicas: number,
  prefix = "svc",
): ClusterConfig {
  const all: Record<string, ServiceConfig> = {};
  for (let index = 0; index < services; index++) {
    const name = `${prefix}-${index}`;
    all[name] = {
      name,
      kind: "service",
      image: `registry.test/${name}:v1`,
      env: {},
      cpu: [0.25, 0.5, 1][index % 3] as number,
      memoryBytes: [256, 512, 1024][index % 3]! * MIB,
      volumes: [],
      constraints: [],
      labels: {},
      stopSignal: "SIGTERM",
      stopGracePeriodMs: 10_000,
      port: 8080,
      replicas,
      routes: [],
      restart: "always",
    };
  }
  return { services: all, tasks: {} };
}

/** Node `n` of a bench cluster, `n1`… with `node-1`… names. */
export function nodeRegister(
  n: number,
  size: { cpuMillis: number; memoryBytes: number },
): NodeRegisterCommand {
  return {
    type: "NodeRegister",
    nodeId: `n${n}`,
    millId: `m${n}`,
    name: `node-${n}`,
    address: `10.0.${n >> 8}.${n & 255}`,
    labels: {},
    atMs: 1,
    ...size,
  };
}

export { median } from "./_stats.ts";
