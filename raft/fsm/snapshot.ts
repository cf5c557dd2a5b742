/**
 * FSM snapshots: the whole cluster state in a versioned, checksummed frame.
 * This is the only snapshot codec. It is synchronous, because Raft's shell
 * asks the state machine for snapshots synchronously, so SHA-256 is the pure
 * `_sha256.ts` rather than Web Crypto; the state encoding itself is
 * `codec.ts`.
 *
 * Frame (all integers big-endian):
 *
 * | bytes | holds                                            |
 * | ----- | ------------------------------------------------ |
 * | 0-7   | magic `MILLFSM\n`                                |
 * | 8-11  | format version (u32), currently 1                |
 * | 12-43 | SHA-256 of the payload                           |
 * | 44-   | payload: the state as canonical JSON, UTF-8      |
 */
import type { ClusterState } from "./state.ts";
import { decodeStatePayload, encodeStatePayload } from "./codec.ts";
import { sha256, SHA256_BYTES } from "./_sha256.ts";

/** The first 8 bytes of every FSM snapshot. */
export const SNAPSHOT_MAGIC = "MILLFSM\n";
/** The frame format this mill writes and the only one it reads. */
export const SNAPSHOT_VERSION = 1;
const HEADER_BYTES = 8 + 4 + SHA256_BYTES;

/** Why `decodeSnapshot` refused bytes; stable, for callers to match on. */
export type SnapshotErrorCode =
  | "snapshot.truncated"
  | "snapshot.bad_magic"
  | "snapshot.unsupported_version"
  | "snapshot.checksum_mismatch"
  | "snapshot.invalid_payload";

/** Why a snapshot cannot be restored; the state is never half-restored. */
export class SnapshotError extends Error {
  override name = "SnapshotError";
  constructor(
    readonly code: SnapshotErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The state as snapshot bytes; equal states give equal bytes. */
export function encodeSnapshot(state: ClusterState): Uint8Array {
  const payload = encoder.encode(encodeStatePayload(state));
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  bytes.set(encoder.encode(SNAPSHOT_MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, SNAPSHOT_VERSION);
  bytes.set(sha256(payload), 12);
  bytes.set(payload, HEADER_BYTES);
  return bytes;
}

/**
 * The state in snapshot bytes.
 *
 * @throws {SnapshotError} truncated, foreign, future-version, corrupt
 * (checksum) or unsound (schema, invariants) snapshots.
 */
export function decodeSnapshot(bytes: Uint8Array): ClusterState {
  if (bytes.length < HEADER_BYTES) {
    throw new SnapshotError(
      "snapshot.truncated",
      `Snapshot is ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header; it is truncated`,
    );
  }
  const magic = decoder.decode(bytes.subarray(0, 8), { stream: false });
  if (magic !== SNAPSHOT_MAGIC) {
    throw new SnapshotError(
      "snapshot.bad_magic",
      "Snapshot does not start with the mill FSM magic; it is not a mill snapshot",
    );
  }
  const version = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    .getUint32(8);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(
      "snapshot.unsupported_version",
      `Snapshot format version ${version} is not supported (this mill reads version ${SNAPSHOT_VERSION}); upgrade mill on this node`,
    );
  }
  const payload = bytes.subarray(HEADER_BYTES);
  const expected = bytes.subarray(12, HEADER_BYTES);
  const actual = sha256(payload);
  if (!actual.every((byte, index) => byte === expected[index])) {
    throw new SnapshotError(
      "snapshot.checksum_mismatch",
      "Snapshot checksum does not match its contents; it is corrupt, fetch it again from the leader",
    );
  }
  return decodePayload(payload);
}

function decodePayload(payload: Uint8Array): ClusterState {
  let text: string;
  try {
    text = decoder.decode(payload);
  } catch (error) {
    throw new SnapshotError(
      "snapshot.invalid_payload",
      "Snapshot payload is not UTF-8",
      { cause: error },
    );
  }
  const decoded = decodeStatePayload(text);
  if (!decoded.ok) {
    throw new SnapshotError(
      "snapshot.invalid_payload",
      `Snapshot payload is not a sound cluster state: ${decoded.message}`,
    );
  }
  return decoded.state;
}
