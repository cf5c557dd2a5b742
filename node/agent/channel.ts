/**
 * The messages a node sends the leader (registration, heartbeats) and the
 * channel they travel on: in-process when this node leads, else over a
 * primary's peer port.
 */
import type {
  AllocReport,
  NodeId,
  NodeRegisterCommand,
} from "../../raft/mod.ts";

/** What a node registers with: `NodeRegister` less what the leader adds. */
export type Registration = Omit<NodeRegisterCommand, "type" | "atMs">;

/** What a node sends with each heartbeat. */
export interface HeartbeatMessage {
  readonly nodeId: NodeId;
  readonly statuses: readonly AllocReport[];
  /** The allocs whose containers run there now. */
  readonly running: readonly string[];
}

/** How messages reach the leader. */
export interface LeaderChannel {
  register(registration: Registration): Promise<void>;
  heartbeat(message: HeartbeatMessage): Promise<void>;
}

/** Why a node message was refused by the leader. */
export class NodeMessageError extends Error {
  override name = "NodeMessageError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}
