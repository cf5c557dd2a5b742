/**
 * bench/raft's native client to etcd: `etcdserverpb.KV/Put` over gRPC
 * (HTTP/2, plaintext) through `@grpc/grpc-js`, the path etcd's own clients
 * take. The bench's only module that imports grpc-js. It does not go through
 * containerd's adapter (`containerd/_grpc.ts`): that one is bound to
 * containerd's protos, a unix socket and the namespace header, and it waits
 * for the channel and retries UNAVAILABLE by itself, which would hide the
 * failed writes this bench counts.
 *
 * The two messages are small enough to write by hand, field numbers from
 * etcd's `api/etcdserverpb/rpc.proto`:
 *
 *   message PutRequest  { bytes key = 1; bytes value = 2; ... }
 *   message PutResponse { ResponseHeader header = 1; ... }
 *   message ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2;
 *                            int64 revision = 3; uint64 raft_term = 4; }
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { PutOutcome } from "./_load.ts";

const PUT_PATH = "/etcdserverpb.KV/Put";

const encoder = new TextEncoder();

function pushVarint(out: number[], value: number): void {
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function pushBytesField(out: number[], field: number, bytes: Uint8Array) {
  out.push((field << 3) | 2);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** `PutRequest{key, value}` in protobuf wire format. */
export function encodePutRequest(key: string, value: string): Buffer {
  const out: number[] = [];
  pushBytesField(out, 1, encoder.encode(key));
  pushBytesField(out, 2, encoder.encode(value));
  return Buffer.from(out);
}

interface Reader {
  readonly bytes: Uint8Array;
  at: number;
}

function readVarint(r: Reader): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = r.bytes[r.at++];
    if (b === undefined) throw new Error("PutResponse: truncated varint");
    value += (b & 0x7f) * scale; // exact below 2^53; ids above are not read
    if ((b & 0x80) === 0) return value;
    scale *= 128;
  }
}

/** Skips one field's value of wire type `wire`. */
function skip(r: Reader, wire: number): void {
  if (wire === 0) readVarint(r);
  else if (wire === 1) r.at += 8;
  else if (wire === 2) r.at += readVarint(r);
  else if (wire === 5) r.at += 4;
  else throw new Error(`PutResponse: unexpected wire type ${wire}`);
}

/** The revision in a `PutResponse`'s header; throws when it has none. */
export function decodePutRevision(bytes: Uint8Array): number {
  const outer: Reader = { bytes, at: 0 };
  while (outer.at < bytes.length) {
    const tag = readVarint(outer);
    if (tag !== ((1 << 3) | 2)) {
      skip(outer, tag & 7);
      continue;
    }
    const length = readVarint(outer);
    const header: Reader = {
      bytes: bytes.subarray(outer.at, outer.at + length),
      at: 0,
    };
    while (header.at < header.bytes.length) {
      const field = readVarint(header);
      if (field === ((3 << 3) | 0)) return readVarint(header);
      skip(header, field & 7);
    }
    outer.at += length;
  }
  throw new Error("PutResponse without a header revision");
}

/**
 * One HTTP/2 channel to one etcd member, kept alive, shared by a group of
 * proposers (each with its own call in flight).
 */
export class EtcdKvChannel {
  readonly #client: grpc.Client;
  /** The highest revision an answered Put reported. */
  maxRevision = 0;

  /** `address` is `host:port` of the member's client URL. */
  constructor(address: string) {
    this.#client = new grpc.Client(
      address,
      grpc.credentials.createInsecure(),
      {
        // A channel of this group's own, not one shared from grpc-js's pool.
        "grpc.use_local_subchannel_pool": 1,
        // Keep-alive pings, no more often than etcd's enforcement policy
        // allows (--grpc-keepalive-min-time, 5 s by default).
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.http2.min_time_between_pings_ms": 10_000,
        // Per-call bookkeeping a benchmark client does not need: channelz's
        // call tracking and the retry buffer (no hidden retries either: a
        // failed write is counted). Together about a fifth less client CPU
        // per write here.
        "grpc.enable_channelz": 0,
        "grpc.enable_retries": 0,
      },
    );
  }

  /** Waits until the channel is connected (not timed by the bench). */
  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.waitForReady(Date.now() + timeoutMs, (error) => {
        if (error) reject(new Error(`etcd gRPC channel: ${error.message}`));
        else resolve();
      });
    });
  }

  /** One Put; "ok" once etcd answered, i.e. committed and applied. */
  put(key: string, value: string, timeoutMs: number): Promise<PutOutcome> {
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        PUT_PATH,
        (request: Buffer) => request,
        (response: Buffer) => response,
        encodePutRequest(key, value),
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error) {
            resolve(
              error.code === grpc.status.DEADLINE_EXCEEDED
                ? "timeout"
                : "error",
            );
            return;
          }
          let revision: number;
          try {
            if (response === undefined) throw new Error("no PutResponse");
            revision = decodePutRevision(response);
          } catch (_err) {
            return resolve("error"); // an answer that is not a PutResponse
          }
          if (revision > this.maxRevision) this.maxRevision = revision;
          resolve("ok");
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}
