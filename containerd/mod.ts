/**
 * mill's containerd client: images (pull, import), containers (create, start,
 * stop, remove, logs, metrics) and task events, over containerd's gRPC socket.
 */
export { ContainerdClient } from "./client.ts";
export { type Descriptor, NAMESPACE_DEFAULT } from "./types.ts";
export { ContainerdError, type ContainerdErrorCode } from "./errors.ts";
export { type ImageReference, parseReference } from "./reference.ts";
export {
  ImageService,
  type ImageServiceOptions,
  type PullProgress,
  type ResolvedImage,
} from "./images.ts";
export type { RegistryCredentials } from "./registry.ts";
export {
  ContainerRunner,
  type RunnerOptions,
  signalNumber,
  type StopResult,
} from "./runner.ts";
export {
  type BindMount,
  type ContainerRequest,
  detectHostFacts,
  type HostFacts,
} from "./spec.ts";
export type { LogEntry, LogStream } from "./log_ring.ts";
export type { ContainerMetrics } from "./metrics.ts";
export {
  type TaskEvent,
  type TaskEventWatch,
  watchTaskEvents,
} from "./events.ts";
export { type ImageConfig, MEDIA_TYPE, type Platform } from "./oci.ts";
export { packTar, type TarEntry } from "./tar.ts";
