/**
 * How the client turns the loader's objects and gRPC failures into ours:
 * `google.protobuf.Any` conversion and status-to-error mapping.
 */
import { GrpcCallError } from "./_grpc.ts";
import { ContainerdError } from "./errors.ts";
import type { AnyMessage } from "./types.ts";

export const STATUS_NOT_FOUND = 5;
export const STATUS_ALREADY_EXISTS = 6;
export const STATUS_UNAVAILABLE = 14;
export const STATUS_DEADLINE_EXCEEDED = 4;

/** google.protobuf.Any as the loader reads and writes it (snake case: a well-known type). */
export interface RawAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

export function toAny(any: AnyMessage): RawAny {
  return { type_url: any.typeUrl, value: any.value };
}

export function fromAny(raw: RawAny | null): AnyMessage | null {
  return raw === null ? null : { typeUrl: raw.type_url, value: raw.value };
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof GrpcCallError && error.status === status;
}

export function wrap(error: unknown, what: string): ContainerdError {
  if (error instanceof ContainerdError) return error;
  if (isStatus(error, STATUS_DEADLINE_EXCEEDED)) {
    return new ContainerdError(
      "containerd.timeout",
      `Cannot ${what}: the deadline passed (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (isStatus(error, STATUS_UNAVAILABLE)) {
    return new ContainerdError(
      "containerd.unavailable",
      `Cannot ${what}: containerd did not answer (${
        (error as Error).message
      }); check that containerd runs and its socket path is right`,
      { cause: error },
    );
  }
  if (isStatus(error, STATUS_NOT_FOUND)) {
    return new ContainerdError(
      "containerd.not_found",
      `Cannot ${what}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (isStatus(error, STATUS_ALREADY_EXISTS)) {
    return new ContainerdError(
      "containerd.already_exists",
      `Cannot ${what}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return new ContainerdError(
    "containerd.call_failed",
    `Cannot ${what}: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

/** Whether an error is containerd saying the thing does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof ContainerdError &&
    error.code === "containerd.not_found";
}
