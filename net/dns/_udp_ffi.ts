/**
 * A UDP socket driven through libc by FFI, for Linux on 64-bit: recvmmsg
 * takes up to BATCH datagrams per call (on a thread of its own, so the
 * event loop never blocks) and sendmmsg sends a batch's replies in one call.
 * Deno's own sockets cost one async op per datagram each way; batching is
 * what lets one core keep up with a C server. It needs FFI permission for
 * glibc's libc.so.6 at `libcPath()` only (mill's permission set grants
 * exactly that path); the server falls back to the runtime's sockets when
 * it is not granted (net/dns/README.md).
 */

import type { OnDatagram, UdpSocket } from "./_udp_types.ts";

const BATCH = 64;
const SLOT = 4096;
const MMSGHDR = 64; // struct mmsghdr on LP64 Linux
const SOCKADDR_IN = 16;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const MSG_WAITFORONE = 0x10000;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
/** How often a blocked receive wakes to see whether the socket is closing. */
const RECEIVE_WAKE_US = 200_000;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  recvmmsg: {
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // memmove(p, p, 0) returns p: a buffer's address without
  // Deno.UnsafePointer, which a path-scoped FFI permission does not allow.
  memmove: { parameters: ["buffer", "buffer", "usize"], result: "usize" },
} as const;

type AddressOf = (buf: Uint8Array) => bigint;

/** One batch's headers: each slot's name, iovec and data, pointers set. */
class Batch {
  readonly data = new Uint8Array(BATCH * SLOT);
  readonly names = new Uint8Array(BATCH * SOCKADDR_IN);
  readonly iovecs = new Uint8Array(BATCH * 16);
  readonly headers = new Uint8Array(BATCH * MMSGHDR);
  readonly #iov = new DataView(this.iovecs.buffer);
  readonly #hdr = new DataView(this.headers.buffer);

  /** Every buffer is far past V8's in-heap limit (64 bytes): it never moves. */
  constructor(address: AddressOf) {
    const data = address(this.data);
    const names = address(this.names);
    const iovecs = address(this.iovecs);
    for (let i = 0; i < BATCH; i++) {
      this.#iov.setBigUint64(i * 16, data + BigInt(i * SLOT), true);
      this.#iov.setBigUint64(i * 16 + 8, BigInt(SLOT), true);
      const h = i * MMSGHDR;
      this.#hdr.setBigUint64(h, names + BigInt(i * SOCKADDR_IN), true);
      this.#hdr.setUint32(h + 8, SOCKADDR_IN, true);
      this.#hdr.setBigUint64(h + 16, iovecs + BigInt(i * 16), true);
      this.#hdr.setBigUint64(h + 24, 1n, true);
    }
  }

  /** Before a receive: every slot takes a full datagram and a name. */
  reset(): void {
    for (let i = 0; i < BATCH; i++) {
      this.#iov.setUint32(i * 16 + 8, SLOT, true);
      this.#hdr.setUint32(i * MMSGHDR + 8, SOCKADDR_IN, true);
    }
  }

  /** The kernel cut the datagram to fit the slot (MSG_TRUNC). */
  cut(i: number): boolean {
    return (this.#hdr.getInt32(i * MMSGHDR + 48, true) & MSG_TRUNC) !== 0;
  }

  receivedLength(i: number): number {
    return this.#hdr.getUint32(i * MMSGHDR + 56, true);
  }

  setLength(i: number, length: number): void {
    this.#iov.setUint32(i * 16 + 8, length, true);
  }
}

function sourceOf(names: Uint8Array, i: number): string {
  const at = i * SOCKADDR_IN + 4;
  return `${names[at]}.${names[at + 1]}.${names[at + 2]}.${names[at + 3]}`;
}

/**
 * glibc's libc on Debian and Ubuntu, by architecture. The one library the
 * scoped FFI permission names (scripts/permissions lists the same paths).
 */
export function libcPath(): string {
  return `/lib/${Deno.build.arch}-linux-gnu/libc.so.6`;
}

/** True when this process may load `libcPath()` by FFI (on Linux). */
export function ffiAvailable(): boolean {
  return Deno.build.os === "linux" && typeof Deno.dlopen === "function" &&
    Deno.permissions.querySync({ name: "ffi", path: libcPath() }).state ===
      "granted";
}

export function bindFfi(
  hostname: string,
  port: number,
  onDatagram: OnDatagram,
  onError: (message: string) => void,
): UdpSocket {
  const parts = hostname.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
    throw new Error(
      `the FFI UDP socket takes an IPv4 address, not ${hostname}`,
    );
  }
  let libc: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    libc = Deno.dlopen(libcPath(), SYMBOLS);
  } catch (error) {
    throw new Error(
      `the FFI UDP socket needs glibc's ${libcPath()} (${
        (error as Error).message
      }); use udp: "auto"`,
    );
  }
  const sys = libc.symbols;
  const fd = sys.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    libc.close();
    throw new Error("socket(AF_INET, SOCK_DGRAM) failed");
  }
  const name = new Uint8Array(SOCKADDR_IN);
  name[0] = AF_INET;
  name[2] = port >> 8;
  name[3] = port & 0xff;
  name.set(parts, 4);
  const timeout = new BigInt64Array([0n, BigInt(RECEIVE_WAKE_US)]);
  if (
    sys.bind(fd, name, SOCKADDR_IN) !== 0 ||
    sys.setsockopt(
        fd,
        SOL_SOCKET,
        SO_RCVTIMEO,
        new Uint8Array(timeout.buffer),
        16,
      ) !== 0
  ) {
    sys.close(fd);
    libc.close();
    throw new Error(`cannot bind UDP ${hostname}:${port} (in use?)`);
  }
  const nameLength = new Uint32Array([SOCKADDR_IN]);
  sys.getsockname(fd, name, new Uint8Array(nameLength.buffer));
  const boundPort = (name[2]! << 8) | name[3]!;

  const address: AddressOf = (buf) => BigInt(sys.memmove(buf, buf, 0n));
  const received = new Batch(address);
  const replies = new Batch(address);
  const late = new Batch(address);
  let closed = false;
  let inBatch = false;
  let replyCount = 0;

  /** A reply after its batch went out (forwarded answers): sent alone. */
  const sendLate = (out: Uint8Array, source: Uint8Array) => {
    if (closed || out.length > SLOT) return;
    late.data.set(out, 0);
    late.names.set(source, 0);
    late.setLength(0, out.length);
    sys.sendmmsg(fd, late.headers, 1, MSG_DONTWAIT);
  };

  const loop = (async () => {
    while (!closed) {
      received.reset();
      const n = await sys.recvmmsg(
        fd,
        received.headers,
        BATCH,
        MSG_WAITFORONE,
        null,
      );
      if (closed) break;
      if (n <= 0) continue; // the wake-up timeout, or an interrupted call
      inBatch = true;
      replyCount = 0;
      for (let i = 0; i < n; i++) {
        if (received.cut(i)) continue; // over 4096 bytes: not a query
        const length = Math.min(received.receivedLength(i), SLOT);
        const message = received.data.subarray(i * SLOT, i * SLOT + length);
        const source = received.names.slice(
          i * SOCKADDR_IN,
          (i + 1) * SOCKADDR_IN,
        );
        try {
          onDatagram(message, sourceOf(received.names, i), (out) => {
            if (!inBatch) return sendLate(out, source);
            if (out.length > SLOT || replyCount >= BATCH) return;
            const slot = replyCount++;
            replies.data.set(out, slot * SLOT);
            replies.names.set(source, slot * SOCKADDR_IN);
            replies.setLength(slot, out.length);
          });
        } catch (error) {
          onError(`DNS UDP datagram: ${(error as Error).message}`);
        }
      }
      inBatch = false;
      if (replyCount > 0) {
        sys.sendmmsg(fd, replies.headers, replyCount, MSG_DONTWAIT);
      }
    }
  })();

  return {
    port: boundPort,
    kind: "ffi",
    async close() {
      closed = true;
      await loop; // wakes within RECEIVE_WAKE_US
      sys.close(fd);
      libc.close();
    },
  };
}
