/**
 * FSM snapshots: the whole cluster state in a versioned, checksummed frame.
 * SHA-256 comes from Web Crypto (`crypto.subtle`, a global, no import), so
 * encoding and decoding are async; the state encoding itself is `codec.ts`.
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

export const SNAPSHOT_MAGIC = "MILLFSM\n";
export const SNAPSHOT_VERSION = 1;
const HEADER_BYTES = 8 + 4 + 32;

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

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return new Uint8Array(digest);
}

/** The state as snapshot bytes; equal states give equal bytes. */
export async function encodeSnapshot(
  state: ClusterState,
): Promise<Uint8Array> {
  const payload = encoder.encode(encodeStatePayload(state));
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  bytes.set(encoder.encode(SNAPSHOT_MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, SNAPSHOT_VERSION);
  bytes.set(await sha256(payload), 12);
  bytes.set(payload, HEADER_BYTES);
  return bytes;
}

/**
 * The state in snapshot bytes.
 *
 * @throws {SnapshotError} truncated, foreign, future-version, corrupt
 * (checksum) or unsound (schema, invariants) snapshots.
 */
export async function decodeSnapshot(
  bytes: Uint8Array,
): Promise<ClusterState> {
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
  const actual = await sha256(payload);
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
