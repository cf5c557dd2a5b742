/**
 * The secondary RPC frame: `SecondaryRuntime` and its messages, the HTTP
 * server a node runs for it, and the client the leader calls it with.
 */
export {
  RPC_RESPONSE_BYTES_MAX,
  type RpcCallOptions,
  RpcClient,
  type RpcClientOptions,
} from "./client.ts";
export { RpcError, type RpcTransportCode } from "./errors.ts";
export {
  createRpcHandler,
  RPC_BODY_BYTES_MAX,
  RPC_DEADLINE_HEADER,
  RPC_DEADLINE_MS_DEFAULT,
  RPC_DEADLINE_MS_MAX,
  RPC_IN_FLIGHT_MAX,
  RPC_PATH_PREFIX,
  type RpcServer,
  type RpcServerOptions,
  startRpcServer,
} from "./server.ts";
export * from "./types.ts";
