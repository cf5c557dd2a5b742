/**
 * Helpers for tests of the FSM and of what builds on it (the scheduler):
 * a seeded random generator, config fixtures and states built from
 * commands. Not part of the public surface (not in `mod.ts`).
 */
import type {
  ClusterConfig,
  ServiceConfig,
  TaskConfig,
} from "../../config/types.ts";
import { apply } from "./apply.ts";
import type { Command, NodeRegisterCommand } from "./command.ts";
import { type ClusterState, emptyState } from "./state.ts";

/** Small, fast, seeded PRNG (mulberry32): the same seed, the same sequence. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bool(probability = 0.5): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

export const GIB = 1024 * 1024 * 1024;
export const MIB = 1024 * 1024;

/** A service config with test defaults. */
export function service(
  name: string,
  overrides: Partial<Omit<ServiceConfig, "name" | "kind">> = {},
): ServiceConfig {
  return {
    name,
    kind: "service",
    image: `registry.test/${name}:v1`,
    env: {},
    cpu: 0.5,
    memoryBytes: 512 * MIB,
    volumes: [],
    constraints: [],
    labels: {},
    stopSignal: "SIGTERM",
    stopGracePeriodMs: 10_000,
    port: 8080,
    replicas: 1,
    routes: [],
    restart: "always",
    ...overrides,
  };
}

/** A task config with test defaults. */
export function task(
  name: string,
  overrides: Partial<Omit<TaskConfig, "name" | "kind">> = {},
): TaskConfig {
  return {
    name,
    kind: "task",
    image: `registry.test/${name}:v1`,
    env: {},
    cpu: 0.25,
    memoryBytes: 128 * MIB,
    volumes: [],
    constraints: [],
    labels: {},
    stopSignal: "SIGTERM",
    stopGracePeriodMs: 5_000,
    ...overrides,
  };
}

export function config(
  services: readonly ServiceConfig[],
  tasks: readonly TaskConfig[] = [],
): ClusterConfig {
  return {
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    tasks: Object.fromEntries(tasks.map((t) => [t.name, t])),
  };
}

/** A `NodeRegister` for `node-<n>` with 4 cores and 8 GiB unless overridden. */
export function registerNode(
  n: number,
  overrides: Partial<Omit<NodeRegisterCommand, "type">> = {},
): NodeRegisterCommand {
  return {
    type: "NodeRegister",
    nodeId: `n${n}`,
    millId: `mill-${n}`,
    name: `node-${n}`,
    address: `10.0.0.${n}`,
    cpuMillis: 4000,
    memoryBytes: 8 * GIB,
    labels: {},
    atMs: 1000,
    ...overrides,
  };
}

/** Applies each command in turn; throws on the first rejection (a broken fixture). */
export function stateFrom(
  commands: readonly Command[],
  start: ClusterState = emptyState(),
): ClusterState {
  let state = start;
  for (const command of commands) {
    const applied = apply(state, command);
    if (!applied.ok) {
      throw new Error(
        `fixture command ${command.type} rejected: ${applied.rejection.code}: ${applied.rejection.message}`,
      );
    }
    state = applied.state;
  }
  return state;
}
