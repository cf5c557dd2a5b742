/** Health checks: the pure tracker, the probes and the per-alloc monitor. */
export {
  assertHealthConfig,
  checkDeadline,
  failureThreshold,
  healthDeadlineMs,
  type HealthState,
  type HealthStatus,
  type HealthStep,
  type HealthTransition,
  nextWakeAtMs,
  type ProbeResult,
  recordProbe,
  startHealth,
} from "./tracker.ts";
export {
  PROBE_REASON_LENGTH_MAX,
  probeHttp,
  type ProbeOptions,
  type ProbeOutcome,
  type ProbeTarget,
  probeTarget,
  probeTcp,
  runProbe,
} from "./probe.ts";
export { HealthMonitor, type HealthMonitorOptions } from "./monitor.ts";
