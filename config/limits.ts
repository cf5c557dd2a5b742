/** Named bounds and defaults of the config language (documented in README). */

/** A `.mill` file larger than this is rejected before parsing. */
export const CONFIG_CHARS_MAX = 1_048_576;
export const WORKLOADS_MAX = 1000;
export const REPLICAS_MAX = 1000;
export const CPU_MAX = 1024;
/** runc refuses cgroup memory limits below about 6 MiB. */
export const MEMORY_BYTES_MIN = 6 * 2 ** 20;
export const NAME_CHARS_MAX = 63;
export const PORT_MIN = 1;
export const PORT_MAX = 65535;
export const THRESHOLD_MAX = 100;
export const DURATION_MS_MAX = 24 * 3_600_000;

export const DEFAULTS = {
  replicas: 1,
  cpu: 0.25,
  memoryBytes: 256 * 2 ** 20,
  stopSignal: "SIGTERM",
  stopGracePeriodMs: 10_000,
  restart: "always",
  routePath: "/",
  volumeEphemeral: false,
  health: {
    intervalMs: 10_000,
    timeoutMs: 2_000,
    healthyThreshold: 1,
    unhealthyThreshold: 3,
    deadlineMs: 60_000,
  },
} as const;

/** POSIX signal names `stop_signal` accepts, with or without `SIG`. */
export const SIGNALS: readonly string[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGABRT",
  "SIGKILL",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGTERM",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGWINCH",
  "SIGPWR",
];
