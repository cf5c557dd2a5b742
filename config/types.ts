/**
 * The core types of a parsed, validated mill config. Every other part of
 * mill reads these; the parser and validator produce them. Plain JSON-able
 * data (no classes, no Maps) so that they can travel in the Raft log and in
 * FSM snapshots unchanged.
 */

/** A whole `.mill` file: services and tasks keyed by name. */
export interface ClusterConfig {
  readonly services: Readonly<Record<string, ServiceConfig>>;
  readonly tasks: Readonly<Record<string, TaskConfig>>;
}

/** What services and tasks have in common. */
export interface WorkloadConfig {
  readonly name: string;
  /** Image reference as written, e.g. `registry.example.com/web:v1`. */
  readonly image: string;
  /** Overrides the image's entrypoint when present. */
  readonly command?: readonly string[];
  /** Overrides the image's cmd when present. */
  readonly args?: readonly string[];
  /**
   * Environment. Values keep `${secret(name)}` references verbatim: they are
   * resolved only on the node that starts the container.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Cores; both the scheduling reservation and the cgroup ceiling. */
  readonly cpu: number;
  /** Bytes; both the scheduling reservation and the cgroup ceiling. */
  readonly memoryBytes: number;
  readonly volumes: readonly VolumeConfig[];
  readonly constraints: readonly PlacementConstraint[];
  readonly labels: Readonly<Record<string, string>>;
  /** Signal sent first on stop, e.g. `SIGTERM`. */
  readonly stopSignal: string;
  /** Time between the stop signal and SIGKILL. */
  readonly stopGracePeriodMs: number;
}

/** A long-running workload, restarted with backoff when it exits. */
export interface ServiceConfig extends WorkloadConfig {
  readonly kind: "service";
  /** Container port; absent for a service that listens on nothing. */
  readonly port?: number;
  readonly replicas: number;
  readonly health?: HealthConfig;
  readonly routes: readonly RouteConfig[];
  readonly restart: RestartPolicy;
  /** How a change rolls out; absent means `UPDATE_DEFAULT`. */
  readonly update?: UpdateConfig;
}

/**
 * `update { order = "start-first"; max_parallel = 2 }`: how the replicas of
 * a changed service are replaced.
 */
export interface UpdateConfig {
  /**
   * `start-first`: the new replica starts and is healthy before the old one
   * stops (needs room for one more). `stop-first`: the old one stops first
   * and its capacity is reused. `auto`: start-first where a node has room,
   * stop-first where none has.
   */
  readonly order: "auto" | "start-first" | "stop-first";
  /** Replicas replaced at the same time (at least 1). */
  readonly maxParallel: number;
}

/** The roll a service gets without an `update` block. */
export const UPDATE_DEFAULT: UpdateConfig = { order: "auto", maxParallel: 1 };

/** An ephemeral workload: run once, its exit code reported, never restarted. */
export interface TaskConfig extends WorkloadConfig {
  readonly kind: "task";
  /** Killed after this long; absent means no limit. */
  readonly timeoutMs?: number;
}

export type Workload = ServiceConfig | TaskConfig;

/**
 * `always`: restart after any exit; `on-failure`: only after a non-zero exit
 * or a kill; `never`: leave it stopped.
 */
export type RestartPolicy = "always" | "on-failure" | "never";

/** HTTP check when `path` is set, TCP connect to the port otherwise. */
export interface HealthConfig {
  readonly path?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive passes before an alloc is healthy. */
  readonly healthyThreshold: number;
  /** Consecutive failures before a healthy alloc is unhealthy. */
  readonly unhealthyThreshold: number;
  /** How long a new alloc may take to pass its first check before it fails. */
  readonly deadlineMs: number;
  /**
   * Consecutive failed checks after which a new alloc fails before its
   * deadline, counted once the app has answered (an HTTP status, a TCP
   * connect): a wrong path fails fast, a slow boot still gets the deadline.
   * Absent means `FAILURE_THRESHOLD_DEFAULT`.
   */
  readonly failureThreshold?: number;
}

/** `health { failure_threshold }` when absent. */
export const FAILURE_THRESHOLD_DEFAULT = 3;

/** External ingress: `route "app.example.com" { path = "/" }`. */
export interface RouteConfig {
  readonly host: string;
  /** Path prefix, always starting with `/`. */
  readonly path: string;
  /** Absent: round-robin. */
  readonly balance?: "round-robin" | "least-connections";
}

export interface VolumeConfig {
  readonly name: string;
  /** Mount point inside the container. */
  readonly path: string;
  /** Requested size; required for persistent volumes. */
  readonly sizeBytes?: number;
  /** Host scratch space, lost on reschedule; persistent (cloud block) if false. */
  readonly ephemeral: boolean;
}

/**
 * A rule a node must meet to host the workload. `attribute` is `node.name`
 * or `node.label.<key>` (labels a node registers with).
 */
export interface PlacementConstraint {
  readonly attribute: string;
  readonly operator: "==" | "!=";
  readonly value: string;
}
