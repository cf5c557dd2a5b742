/**
 * The streaming halves of the Content service: reading a whole small blob
 * and writing a blob in chunks (STAT, WRITE…, COMMIT on one stream).
 */
import type { GrpcConnection } from "./_grpc.ts";
import { wrap } from "./_call.ts";
import { ContainerdError } from "./errors.ts";
import type { Descriptor } from "./types.ts";

/** Bytes per Content.Write message. */
export const WRITE_CHUNK_BYTES = 1024 * 1024;
/** Bytes of one blob we read whole into memory (manifests, configs). */
export const READ_BYTES_MAX = 16 * 1024 * 1024;

export interface WriteContentOptions {
  readonly leaseId: string;
  readonly labels?: Record<string, string>;
  readonly timeoutMs: number;
  readonly onBytes?: (done: number) => void;
}

export async function readWholeContent(
  connection: GrpcConnection,
  digest: string,
  size: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  if (size > READ_BYTES_MAX) {
    throw new ContainerdError(
      "image.too_large",
      `Cannot read "${digest}": ${size} bytes exceed ${READ_BYTES_MAX}`,
    );
  }
  const out = new Uint8Array(size);
  let filled = 0;
  const stream = connection.serverStream(
    "content",
    "Read",
    { digest, offset: 0, size: 0 },
    (m) => {
      const { offset, data } = m as { offset: number; data: Uint8Array };
      if (offset + data.byteLength > size) return;
      out.set(data, offset);
      filled += data.byteLength;
    },
    { timeoutMs, waitForReady: true },
  );
  await stream.done.catch((e) => {
    throw wrap(e, `read content "${digest}"`);
  });
  if (filled !== size) {
    throw new ContainerdError(
      "image.digest_mismatch",
      `Content "${digest}" has ${filled} bytes, expected ${size}`,
    );
  }
  return out;
}

/** Writes `chunks` under `ref`; the caller aborts the ref on failure. */
export async function writeContentStream(
  connection: GrpcConnection,
  ref: string,
  expected: Descriptor,
  chunks: AsyncIterable<Uint8Array>,
  options: WriteContentOptions,
): Promise<void> {
  const stream = connection.duplex("content", "Write", {
    timeoutMs: options.timeoutMs,
    leaseId: options.leaseId,
  });
  try {
    await stream.exchange({
      action: "STAT",
      ref,
      total: expected.size,
      expected: expected.digest,
    });
    let offset = 0;
    for await (const chunk of chunks) {
      for (
        let start = 0;
        start < chunk.byteLength;
        start += WRITE_CHUNK_BYTES
      ) {
        const data = chunk.subarray(start, start + WRITE_CHUNK_BYTES);
        await stream.exchange({ action: "WRITE", ref, offset, data });
        offset += data.byteLength;
        options.onBytes?.(offset);
      }
    }
    await stream.exchange({
      action: "COMMIT",
      ref,
      offset,
      total: expected.size,
      expected: expected.digest,
      labels: options.labels ?? {},
    });
    stream.end();
  } catch (error) {
    stream.cancel();
    throw error;
  }
}
