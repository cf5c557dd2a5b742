/**
 * The secondary RPC: what the leader asks of a node's container runtime.
 * `SecondaryRuntime` is the interface the containerd-backed runner
 * implements; the RPC frame (server.ts, client.ts) carries its calls as HTTP
 * JSON between nodes. All messages are plain JSON; every one is parsed from
 * `unknown` on arrival by the parsers below.
 */
import type { ExitCause } from "../restart/mod.ts";
import { SECRET_VALUE_BYTES_MAX } from "../secrets/mod.ts";
import {
  array,
  bool,
  literal,
  nullable,
  num,
  object,
  optional,
  type Parser,
  record,
  SchemaError,
  str,
} from "../../config/mod.ts";

/** Most log lines one `logs` call returns. */
export const LOG_LINES_MAX = 10_000;
/** Most allocs one `status` or `metrics` call names or returns. */
export const ALLOCS_PER_CALL_MAX = 1_000;
/** Most env variables, labels or secrets in one start. */
export const START_MAP_ENTRIES_MAX = 1_000;
/** Most ephemeral volumes in one start. */
export const START_VOLUMES_MAX = 64;
/** Largest ephemeral volume: 16 TiB, ext4's bound with 4 KiB blocks. */
export const VOLUME_BYTES_MAX = 16 * 1024 ** 4;

export interface PullRequest {
  /** Image reference as written in the config. */
  readonly image: string;
}
export interface PullResult {
  readonly image: string;
  /** Content digest of the image manifest (`sha256:…`). */
  readonly digest: string;
  /** True when the image was already present and nothing was fetched. */
  readonly cached: boolean;
}

export interface StartRequest {
  readonly allocId: string;
  /** Service or task name. */
  readonly name: string;
  readonly kind: "service" | "task";
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  /** Env as in the config: `${secret(name)}` is resolved on the node. */
  readonly env: Record<string, string>;
  /**
   * SECRET. The plaintext of each secret `env` references, by name,
   * decrypted by the leader for this alloc's node alone. Never logged,
   * never put in an error or an OCI spec (see node/README.md, Secrets).
   */
  readonly secretValues: Record<string, string>;
  readonly cpu: number;
  readonly memoryBytes: number;
  /** Host port mapped to `containerPort`, from the node's port pool. */
  readonly hostPort?: number;
  readonly containerPort?: number;
  /**
   * Its address on the node's container subnet: the alloc gets a network
   * namespace of its own there. Absent: it shares the node's network.
   */
  readonly ip?: string;
  readonly labels: Record<string, string>;
  readonly stopSignal: string;
  readonly stopGracePeriodMs: number;
  /** Tasks only: killed after this long. */
  readonly timeoutMs?: number;
  /**
   * Ephemeral volumes: scratch directories the node makes, mounts at
   * `path`, keeps across the alloc's restarts and removes when it ends.
   */
  readonly volumes?: readonly EphemeralVolume[];
  /**
   * Persistent volumes attached to the node: the node makes an ext4 on a
   * blank device, mounts it under its data dir and binds it at `path`.
   */
  readonly persistentVolumes?: readonly PersistentVolumeMount[];
}

/** A persistent volume of a start request: where its device is on the node. */
export interface PersistentVolumeMount {
  readonly name: string;
  /** Absolute path inside the container. */
  readonly path: string;
  /** The block device (`/dev/disk/by-id/…`, `/dev/loopN`). */
  readonly device: string;
}
/** An ephemeral volume of a start request (persistent ones are not sent). */
export interface EphemeralVolume {
  readonly name: string;
  /** Absolute path inside the container. */
  readonly path: string;
  /** Its bound (a filesystem of this size); absent: unbounded. */
  readonly sizeBytes?: number;
}
export interface StartResult {
  readonly allocId: string;
  readonly containerId: string;
  readonly startedAtMs: number;
}

export interface StopRequest {
  readonly allocId: string;
  readonly signal: string;
  readonly gracePeriodMs: number;
}
export interface StopResult {
  readonly allocId: string;
  /** How it ended; null when it was not running. */
  readonly exit: ExitCause | null;
}

export interface StatusRequest {
  /** Absent: every alloc on the node. */
  readonly allocIds?: string[];
}
/**
 * The node's own view of a container. The leader maps it onto the FSM's
 * `AllocStatus`: `running` plus health checks gives `running`/`healthy`;
 * `exited` gives `stopped` (exit 0 or stopped by mill) or `failed`.
 */
export type AllocRuntimeState =
  | "pulling"
  | "starting"
  | "running"
  | "exited"
  | "unknown";
export interface AllocRuntimeStatus {
  readonly allocId: string;
  readonly state: AllocRuntimeState;
  readonly startedAtMs: number | null;
  readonly exit: ExitCause | null;
}
export interface StatusResult {
  readonly allocs: AllocRuntimeStatus[];
}

export interface LogsRequest {
  readonly allocId: string;
  /** Lines after this sequence number; absent: the last `tailLines`. */
  readonly afterSeq?: number;
  readonly tailLines: number;
}
/** A log line (field names as in containerd/'s `LogEntry`, plus `seq`). */
export interface LogLine {
  /** 1 for the container's first line, counting lines dropped from the ring. */
  readonly seq: number;
  readonly timeMs: number;
  readonly stream: "stdout" | "stderr";
  readonly line: string;
}
export interface LogsResult {
  readonly allocId: string;
  readonly lines: LogLine[];
  /** Pass as `afterSeq` to follow. */
  readonly lastSeq: number;
}

export interface MetricsRequest {
  readonly allocIds?: string[];
}
/** An alloc's usage (field names as in containerd/'s `ContainerMetrics`). */
export interface AllocMetrics {
  readonly allocId: string;
  /** CPU time used since start. */
  readonly cpuUsageNs: number;
  readonly memoryUsageBytes: number;
  readonly memoryLimitBytes: number;
  readonly pids: number;
}
export interface MetricsResult {
  readonly atMs: number;
  readonly allocs: AllocMetrics[];
}

/** What a node's container runtime does for the leader. */
export interface SecondaryRuntime {
  pull(request: PullRequest, signal: AbortSignal): Promise<PullResult>;
  start(request: StartRequest, signal: AbortSignal): Promise<StartResult>;
  stop(request: StopRequest, signal: AbortSignal): Promise<StopResult>;
  status(request: StatusRequest, signal: AbortSignal): Promise<StatusResult>;
  logs(request: LogsRequest, signal: AbortSignal): Promise<LogsResult>;
  metrics(request: MetricsRequest, signal: AbortSignal): Promise<MetricsResult>;
}

export type RpcMethod = keyof SecondaryRuntime;
export const RPC_METHODS: readonly RpcMethod[] = [
  "pull",
  "start",
  "stop",
  "status",
  "logs",
  "metrics",
];

const id = str({ lengthMin: 1, lengthMax: 128, pattern: /^[A-Za-z0-9._:-]+$/ });
const image = str({ lengthMin: 1, lengthMax: 1024 });
const timeMs = num({ min: 0, integer: true });
const signalName = str({
  lengthMin: 1,
  lengthMax: 16,
  pattern: /^SIG[A-Z0-9]+$/,
});
const allocIds = optional(array(id, ALLOCS_PER_CALL_MAX));

const exitCause: Parser<ExitCause> = (value, path) => {
  const kind = object({
    kind: literal(
      "exited",
      "killed",
      "oom",
      "start-failed",
      "unhealthy",
      "stopped",
    ),
  })(
    value,
    path,
  ).kind;
  switch (kind) {
    case "exited":
      return object({
        kind: literal("exited"),
        code: num({ min: -1, max: 255, integer: true }),
      })(value, path);
    case "killed":
      return object({ kind: literal("killed"), signal: signalName })(
        value,
        path,
      );
    default:
      return { kind };
  }
};

/** A secret's value; UTF-8 bytes are at least its UTF-16 length. */
const secretValue = str({ lengthMax: SECRET_VALUE_BYTES_MAX });

/** Request parsers, by method. */
export const REQUEST_PARSERS: {
  readonly [M in RpcMethod]: Parser<Parameters<SecondaryRuntime[M]>[0]>;
} = {
  pull: object({ image }),
  start: object({
    allocId: id,
    name: str({ lengthMin: 1, lengthMax: 128 }),
    kind: literal("service", "task"),
    image,
    command: optional(array(str(), 256)),
    args: optional(array(str(), 256)),
    env: record(str({ lengthMax: 65_536 }), START_MAP_ENTRIES_MAX),
    secretValues: record(secretValue, START_MAP_ENTRIES_MAX),
    cpu: num({ min: 0, max: 1024 }),
    memoryBytes: num({ min: 0, integer: true }),
    hostPort: optional(num({ min: 1, max: 65535, integer: true })),
    containerPort: optional(num({ min: 1, max: 65535, integer: true })),
    ip: optional(str({
      lengthMin: 7,
      lengthMax: 15,
      pattern: /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/,
    })),
    labels: record(str(), START_MAP_ENTRIES_MAX),
    stopSignal: signalName,
    stopGracePeriodMs: timeMs,
    timeoutMs: optional(timeMs),
    volumes: optional(array(
      object({
        name: str({
          lengthMin: 1,
          lengthMax: 63,
          pattern: /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/,
        }),
        path: str({ lengthMin: 2, lengthMax: 4096, pattern: /^\/[^\0]*$/ }),
        sizeBytes: optional(
          num({ min: 1, max: VOLUME_BYTES_MAX, integer: true }),
        ),
      }),
      START_VOLUMES_MAX,
    )),
    persistentVolumes: optional(array(
      object({
        name: str({
          lengthMin: 1,
          lengthMax: 63,
          pattern: /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/,
        }),
        path: str({ lengthMin: 2, lengthMax: 4096, pattern: /^\/[^\0]*$/ }),
        // Absolute; the node checks that it is a block device.
        device: str({
          lengthMin: 2,
          lengthMax: 4096,
          pattern: /^\/[^\0]+$/,
        }),
      }),
      START_VOLUMES_MAX,
    )),
  }),
  stop: object({ allocId: id, signal: signalName, gracePeriodMs: timeMs }),
  status: object({ allocIds }),
  logs: object({
    allocId: id,
    afterSeq: optional(num({ min: 0, integer: true })),
    tailLines: num({ min: 0, max: LOG_LINES_MAX, integer: true }),
  }),
  metrics: object({ allocIds }),
};

/** Result parsers, by method. */
export const RESULT_PARSERS: {
  readonly [M in RpcMethod]: Parser<Awaited<ReturnType<SecondaryRuntime[M]>>>;
} = {
  pull: object({ image, digest: str({ lengthMax: 256 }), cached: bool() }),
  start: object({
    allocId: id,
    containerId: str({ lengthMin: 1, lengthMax: 256 }),
    startedAtMs: timeMs,
  }),
  stop: object({ allocId: id, exit: nullable(exitCause) }),
  status: object({
    allocs: array(
      object({
        allocId: id,
        state: literal("pulling", "starting", "running", "exited", "unknown"),
        startedAtMs: nullable(timeMs),
        exit: nullable(exitCause),
      }),
      ALLOCS_PER_CALL_MAX,
    ),
  }),
  logs: object({
    allocId: id,
    lines: array(
      object({
        seq: num({ min: 0, integer: true }),
        timeMs,
        stream: literal("stdout", "stderr"),
        line: str({ lengthMax: 65_536 }),
      }),
      LOG_LINES_MAX,
    ),
    lastSeq: num({ min: 0, integer: true }),
  }),
  metrics: object({
    atMs: timeMs,
    allocs: array(
      object({
        allocId: id,
        cpuUsageNs: num({ min: 0, integer: true }),
        memoryUsageBytes: num({ min: 0, integer: true }),
        memoryLimitBytes: num({ min: 0, integer: true }),
        pids: num({ min: 0, integer: true }),
      }),
      ALLOCS_PER_CALL_MAX,
    ),
  }),
};

export { SchemaError };
