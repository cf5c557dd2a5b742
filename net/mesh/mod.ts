/** The WireGuard mesh between mill's nodes: what the agent uses. */
export {
  type CommandResult,
  type CommandRunner,
  MeshCommandError,
  meshRunner,
  type RunOptions,
} from "./command.ts";
export {
  ensureMeshKey,
  isWireguardKey,
  KEY_FILE_NAME,
  type MeshKey,
  MeshKeyError,
  readMeshKey,
} from "./keys.ts";
export {
  Mesh,
  MESH_INTERFACE_DEFAULT,
  MESH_MTU_DEFAULT,
  MESH_PORT_DEFAULT,
  type MeshBackend,
  MeshError,
  type MeshLog,
  type MeshOptions,
} from "./mesh.ts";
export { PERSISTENT_KEEPALIVE_S } from "./plan.ts";
export { MeshConfigError, type MeshPeer } from "./validate.ts";
export type { MeshPeerStatus } from "./wg_dump.ts";
