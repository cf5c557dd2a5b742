/**
 * Small helpers of the containerd-backed secondary runtime (runtime.ts):
 * task identity, host-port checks, restart policy labels, error mapping.
 */
import type { RestartPolicy } from "../../config/mod.ts";
import { ContainerdError } from "../../containerd/mod.ts";
import { RpcError, type StartRequest } from "../rpc/mod.ts";

/** containerd fills `id` or `containerId` with the container of an init process. */
export function taskContainerId(
  task: { id: string; containerId: string },
): string {
  return task.containerId === "" ? task.id : task.containerId;
}

export function isRunning(task: { status: string }): boolean {
  return task.status.toUpperCase() === "RUNNING";
}

/** Containers share the host's network: a host port must be free to start. */
export function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}

export function restartPolicyOf(
  request: StartRequest,
  restartLabel: string,
): RestartPolicy {
  const label = request.labels[restartLabel];
  if (label === "on-failure" || label === "never" || label === "always") {
    return label;
  }
  return "always";
}

export function isNotFound(error: unknown): boolean {
  return (error instanceof ContainerdError &&
    (error.code === "containerd.not_found" ||
      error.code === "container.not_found")) ||
    (error instanceof RpcError && error.code === "container.not_found");
}

/** Runs `work`; a containerd error keeps its code, with the message. */
export async function wrap<T>(
  code: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ContainerdError) {
      throw new RpcError(error.code, error.message, { cause: error });
    }
    if (error instanceof RpcError) throw error;
    throw new RpcError(code, String(error), { cause: error });
  }
}
