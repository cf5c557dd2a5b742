/**
 * mill-raft: the consensus engine (a pure stepped core, its disk and HTTP
 * shell) and the cluster state machine it replicates.
 */
export * from "./fsm/mod.ts";
export type * from "./types.ts";
export { RaftCore } from "./core.ts";
export {
  NODE_DEFAULTS,
  type NodeStatus,
  RaftError,
  type RaftErrorCode,
  RaftNode,
  type RaftNodeOptions,
  type StateMachine,
} from "./node.ts";
export {
  HttpTransport,
  MESSAGES_PATH,
  SNAPSHOT_PATH,
  STREAM_PATH,
  TRANSPORT_DEFAULTS,
  type TransportOptions,
  type TransportStats,
} from "./transport.ts";
export { type DiskState, DiskStorage } from "./storage/disk_storage.ts";
export { StorageError, type StorageErrorCode } from "./storage/errors.ts";
export { writeFileAtomic, type WriteFileAtomicOptions } from "./storage/fs.ts";
