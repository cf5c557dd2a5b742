/**
 * Errors of the node-to-node RPC. Transport failures have `rpc.*` codes; a
 * runtime's own failures (an image that does not exist, a container that
 * will not start) travel with the runtime's code unchanged, so the leader
 * sees the same `code` it would have seen calling the runtime in-process.
 */

export type RpcTransportCode =
  | "rpc.bad_request"
  | "rpc.unauthenticated"
  | "rpc.not_found"
  | "rpc.method_not_allowed"
  | "rpc.overloaded"
  | "rpc.deadline_exceeded"
  | "rpc.internal"
  | "rpc.unreachable"
  | "rpc.bad_response";

/** An RPC failure; `status` is the HTTP status it travelled with, if any. */
export class RpcError extends Error {
  override name = "RpcError";
  constructor(
    /** An `RpcTransportCode`, or the runtime's own code. */
    readonly code: string,
    message: string,
    options?: ErrorOptions & { readonly status?: number },
  ) {
    super(message, options);
    this.status = options?.status ?? null;
  }
  readonly status: number | null;
}
