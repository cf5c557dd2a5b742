/** A node's container network: bridge, alloc namespaces, nft table. */
export {
  BRIDGE_DEFAULT,
  ContainerNetwork,
  type ContainerNetworkOptions,
  DNS_PORT_DEFAULT,
  HOST_PORT_MAX,
  HOST_PORT_MIN,
  MESH_INTERFACE_DEFAULT,
  type NetworkLog,
  type PublishRequest,
} from "./network.ts";
export {
  type CommandResult,
  type CommandRunner,
  localRunner,
  NetworkCommandError,
  runChecked,
} from "./command.ts";
export { NETNS_PREFIX_DEFAULT, NetworkNames } from "./names.ts";
export {
  deleteTableScript,
  meshGuardScript,
  type Protocol,
  type Publication,
} from "./nft_table.ts";
