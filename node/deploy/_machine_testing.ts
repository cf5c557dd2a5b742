/** Shorthands for the deploy machine's tests. */
import type { MachineAlloc, MachineEvent } from "./machine.ts";

/** A new alloc of `service` on n1 (or as `options` says). */
export function alloc(
  allocId: string,
  service: string,
  options: Partial<MachineAlloc> = {},
): MachineAlloc {
  return {
    allocId,
    service,
    nodeId: options.nodeId ?? "n1",
    image: options.image ?? `${service}:v1`,
    wave: options.wave ?? 1,
    replaces: options.replaces ?? null,
  };
}

/** A finished, uncached pull of `image` on `nodeId`. */
export const pulled = (image: string, nodeId = "n1"): MachineEvent => ({
  type: "pulled",
  nodeId,
  image,
  cached: false,
});
