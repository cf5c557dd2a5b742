/**
 * The agent: one node's process, built by the composition root (root.ts)
 * from its options (options.ts). Joining (join.ts, join_primary.ts) and the
 * private containerd of `mill up` (private_containerd.ts) are used by the
 * CLI before an agent starts.
 */
export {
  type Agent,
  AGENT_TICK_MS,
  type LeaderHandle,
  startAgent,
} from "./root.ts";
export type {
  AgentLog,
  AgentOptions,
  HeartbeatSlice,
  HostPort,
  LogLevel,
  PeerSlice,
  RaftSlice,
  ResourcesSlice,
  Role,
} from "./options.ts";
export type { ContainerdOptions } from "./runtime_service.ts";
export type { ClusterView } from "./fsm_machine.ts";
export { HEARTBEAT_TIMEOUT_MS_DEFAULT } from "./leader/stale_nodes.ts";
export { HEARTBEAT_INTERVAL_MS_DEFAULT } from "./node_link.ts";
export { ServiceStartError, ServiceStopError } from "./supervisor.ts";
export { DataDirLockError } from "./data_dir_lock.ts";
