/** The shapes both UDP socket kinds (_udp.ts, _udp_ffi.ts) share. */

export type UdpKind = "deno" | "node:dgram" | "ffi";

/** "auto": FFI batches where libc may be loaded, else Deno.listenDatagram when the runtime has it, else node:dgram. */
export type UdpPreference = "auto" | "node:dgram" | "ffi";

export interface UdpSocket {
  readonly port: number;
  readonly kind: UdpKind;
  close(): Promise<void>;
}

/** Called per datagram; `reply` sends back to its source. */
export type OnDatagram = (
  message: Uint8Array,
  source: string,
  reply: (out: Uint8Array) => void,
) => void;
