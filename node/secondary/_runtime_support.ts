/**
 * Small helpers of the containerd-backed secondary runtime (runtime.ts):
 * task identity, host-port checks, restart policy labels, error mapping and
 * redaction.
 */
import type { RestartPolicy } from "../../config/mod.ts";
import {
  type ContainerdClient,
  ContainerdError,
  type ImageService,
  type LogEntry,
} from "../../containerd/mod.ts";
import {
  type PullRequest,
  type PullResult,
  RpcError,
  type StartRequest,
} from "../rpc/mod.ts";
import {
  redact,
  resolveSecretEnv,
  SecretError,
  type SecretSplitEnv,
} from "../secrets/mod.ts";
import type { AllocNetworking, AllocNetworkSpec } from "./alloc_network.ts";

/** containerd fills `id` or `containerId` with the container of an init process. */
export function taskContainerId(
  task: { id: string; containerId: string },
): string {
  return task.containerId === "" ? task.id : task.containerId;
}

/** The image, pulled unless present (then `cached`, no registry call). */
export async function pullImage(
  images: ImageService,
  request: PullRequest,
  signal: AbortSignal,
): Promise<PullResult> {
  const present = await images.resolve(request.image);
  if (present !== undefined) {
    return {
      image: request.image,
      digest: present.target.digest,
      cached: true,
    };
  }
  const image = await wrap(
    "image.pull_failed",
    () => images.pull(request.image, { signal }),
  );
  return { image: request.image, digest: image.target.digest, cached: false };
}

/** containerd's tasks of the namespace, by container id. */
export async function tasksByContainer(
  client: ContainerdClient,
): Promise<
  Map<string, Awaited<ReturnType<ContainerdClient["listTasks"]>>[number]>
> {
  return new Map(
    (await client.listTasks()).map((t) => [taskContainerId(t), t]),
  );
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

/**
 * `error` fit for the leader and the logs: an error whose message holds
 * one of `request`'s secret values (or whose causes do) becomes an
 * `RpcError` of the same code with the values redacted and no cause. Any
 * other error is returned as it is.
 */
export function redactFor(request: StartRequest, error: unknown): unknown {
  const values = Object.values(request.secretValues);
  if (values.length === 0) return error;
  const text = describeChain(error);
  if (redact(text, values) === text) return error;
  const code = error instanceof RpcError || error instanceof ContainerdError
    ? error.code
    : "runtime.start_failed";
  const message = error instanceof Error ? error.message : String(error);
  return new RpcError(code, redact(message, values));
}

/**
 * Log lines fit to outlive the alloc on disk: each value of `request`'s
 * secrets (4 characters or more) is `[redacted]`.
 */
export function redactLines(
  request: StartRequest,
  entries: readonly LogEntry[],
): LogEntry[] {
  const values = Object.values(request.secretValues);
  if (values.length === 0) return [...entries];
  return entries.map((entry) => ({
    ...entry,
    line: redact(entry.line, values),
  }));
}

/** `error`'s message and its causes', for the check above. */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join("\n");
}

/**
 * The request's env resolved with its secret values and split: `plain` for
 * the OCI spec, `secret` for the env file. Unless the env sets it, `PORT`
 * is the declared port for an alloc with an address of its own, and the
 * host port under host networking (each replica listens on its own).
 */
export function resolveEnvOf(request: StartRequest): SecretSplitEnv {
  let env;
  try {
    env = resolveSecretEnv(request.env, request.secretValues);
  } catch (error) {
    if (error instanceof SecretError) {
      throw new RpcError(error.code, error.message, { cause: error });
    }
    throw error;
  }
  const setsPort = Object.hasOwn(env.plain, "PORT") ||
    Object.hasOwn(env.secret, "PORT");
  const port = request.ip === undefined
    ? request.hostPort
    : request.containerPort;
  if (port !== undefined && !setsPort) env.plain.PORT = String(port);
  return env;
}

/** The alloc's namespace when it has an address of its own; undefined otherwise. */
export async function networkOf(
  network: AllocNetworking | undefined,
  request: StartRequest,
): Promise<AllocNetworkSpec | undefined> {
  const ip = request.ip;
  if (ip === undefined) return undefined;
  if (network === undefined) {
    throw new RpcError(
      "runtime.no_network",
      `Alloc ${request.allocId} has address ${ip}, but this node runs containers on its host's network; restart its agent with container networking`,
    );
  }
  return await network.attach({ ...request, ip });
}

/** Frees what an alloc that ended for good holds besides its container. */
export async function releaseEnded(
  volumes: { remove(containerId: string): Promise<void> },
  options: {
    readonly network?: AllocNetworking;
    readonly log: (message: string) => void;
  },
  tracked: { readonly containerId: string; readonly request: StartRequest },
): Promise<void> {
  const { allocId } = tracked.request;
  await volumes.remove(tracked.containerId).catch((error) =>
    options.log(
      `cannot remove the volumes of ${allocId}: ${
        redactFor(tracked.request, error)
      }`,
    )
  );
  await options.network?.detach(allocId).catch((error) =>
    options.log(`cannot free the address of ${allocId}: ${error}`)
  );
}
