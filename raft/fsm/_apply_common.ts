/** Helpers shared by the `applyX` functions: results, field checks, usage. */
import { parseCidr, parseIpv4 } from "../../config/cidr.ts";
import type { Applied, RejectionCode } from "./command.ts";
import type { Alloc, ClusterState, FsmNode } from "./state.ts";
import { ID_LENGTH_MAX } from "./limits.ts";

export function accept(state: ClusterState): Applied {
  return { ok: true, state };
}

export function reject(code: RejectionCode, message: string): Applied {
  return { ok: false, rejection: { code, message } };
}

/** A rejection for a malformed field, or null when `ok`. */
export function invalidUnless(ok: boolean, message: string): Applied | null {
  return ok ? null : reject("command.invalid", message);
}

/** A rejection for a command whose time was not chosen before the log. */
export function invalidTime(atMs: unknown): Applied | null {
  return invalidUnless(isCount(atMs), "Command time must be set");
}

export function isId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 &&
    value.length <= ID_LENGTH_MAX;
}

/** A non-negative safe integer: times, bytes, millicores, counts. */
export function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) &&
    value >= 0;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function isBase64(value: unknown): value is string {
  return typeof value === "string" && value.length % 4 === 0 &&
    BASE64.test(value);
}

/** `"x"` with JSON escaping, for messages. */
export function quote(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Millicores as cores for messages: 1500 → "1.5". */
export function formatCpu(cpuMillis: number): string {
  return String(Math.round(cpuMillis) / 1000);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** Bytes for messages: 536870912 → "512 MiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = Math.round(value * 100) / 100;
  return `${shown} ${UNITS[unit]}`;
}

/** The node with `alloc`'s reservation added. */
export function reserveOn(node: FsmNode, alloc: Alloc): FsmNode {
  const reserved: FsmNode = {
    ...node,
    cpuMillisReserved: node.cpuMillisReserved + alloc.cpuMillis,
    memoryBytesReserved: node.memoryBytesReserved + alloc.memoryBytes,
    activeAllocs: node.activeAllocs + 1,
    hostPorts: alloc.hostPort === null
      ? node.hostPorts
      : insertSorted(node.hostPorts, alloc.hostPort),
    allocHosts: alloc.ip === null
      ? node.allocHosts
      : insertSorted(node.allocHosts, allocHostOf(node, alloc.ip)),
  };
  assert(reserved.cpuMillisReserved <= node.cpuMillis, "cpu over-committed");
  assert(
    reserved.memoryBytesReserved <= node.memoryBytes,
    "memory over-committed",
  );
  return reserved;
}

/** The node with `alloc`'s reservation given back. */
export function releaseOn(node: FsmNode, alloc: Alloc): FsmNode {
  const released: FsmNode = {
    ...node,
    cpuMillisReserved: node.cpuMillisReserved - alloc.cpuMillis,
    memoryBytesReserved: node.memoryBytesReserved - alloc.memoryBytes,
    activeAllocs: node.activeAllocs - 1,
    hostPorts: alloc.hostPort === null
      ? node.hostPorts
      : node.hostPorts.filter((port) => port !== alloc.hostPort),
    allocHosts: alloc.ip === null
      ? node.allocHosts
      : node.allocHosts.filter((host) => host !== allocHostOf(node, alloc.ip!)),
  };
  assert(released.activeAllocs >= 0, "released more allocs than reserved");
  assert(released.cpuMillisReserved >= 0, "released more cpu than reserved");
  return released;
}

/** The host number of `ip` on the node's subnet (validated on placement). */
export function allocHostOf(node: FsmNode, ip: string): number {
  const subnet = node.subnet === null ? null : parseCidr(node.subnet);
  const address = parseIpv4(ip);
  assert(
    subnet !== null && typeof subnet !== "string" && address !== null,
    "an alloc address lies on its node's subnet",
  );
  return address - subnet.network;
}

function insertSorted(values: readonly number[], value: number): number[] {
  const result = values.slice();
  let index = result.length;
  while (index > 0 && (result[index - 1] as number) > value) index--;
  result.splice(index, 0, value);
  return result;
}

/** A broken invariant is a bug in mill, not a bad command: crash. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`FSM invariant broken: ${message}`);
}

export function unknownNode(nodeId: string): Applied {
  return reject(
    "node.unknown",
    `Node ${quote(nodeId)} is not registered (or was removed)`,
  );
}
