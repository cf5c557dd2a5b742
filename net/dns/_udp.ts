/**
 * The server's UDP socket. "auto" takes the first that works: batches
 * through libc by FFI where the process may load libc (several times the
 * packets per second of the runtime's sockets on one core, bench/dns), then
 * Deno.listenDatagram when this runtime has it (--unstable-net), then
 * node:dgram, which works in every Deno build.
 */

import dgram from "node:dgram";
import { bindFfi, ffiAvailable, libcPath } from "./_udp_ffi.ts";
import type { OnDatagram, UdpPreference, UdpSocket } from "./_udp_types.ts";

export type {
  OnDatagram,
  UdpKind,
  UdpPreference,
  UdpSocket,
} from "./_udp_types.ts";

type ListenDatagram = (options: {
  hostname: string;
  port: number;
  transport: "udp";
}) => Deno.DatagramConn;

/** Concurrent receives on one socket: a few keep the runtime's queue fed. */
const DENO_RECEIVERS = 4;

export async function bindUdp(
  hostname: string,
  port: number,
  onDatagram: OnDatagram,
  onError: (message: string) => void,
  prefer: UdpPreference = "auto",
): Promise<UdpSocket> {
  if (prefer === "ffi") {
    if (!ffiAvailable()) {
      throw new Error(
        `udp: "ffi" needs Linux and FFI permission for ${libcPath()}; use "auto" otherwise`,
      );
    }
    return bindFfi(hostname, port, onDatagram, onError);
  }
  if (prefer === "auto" && ffiAvailable()) {
    try {
      return bindFfi(hostname, port, onDatagram, onError);
    } catch (error) {
      // A bind refused (the address in use) fails every socket kind alike.
      if ((error as Error).message.startsWith("cannot bind")) throw error;
      onError(
        `DNS UDP: the batched socket is unavailable (${
          (error as Error).message
        }); using the runtime's`,
      );
    }
  }
  const listen = (Deno as unknown as { listenDatagram?: ListenDatagram })
    .listenDatagram;
  if (prefer === "auto" && typeof listen === "function") {
    return bindDeno(listen, hostname, port, onDatagram, onError);
  }
  return await bindNode(hostname, port, onDatagram, onError);
}

function bindDeno(
  listen: ListenDatagram,
  hostname: string,
  port: number,
  onDatagram: OnDatagram,
  onError: (message: string) => void,
): UdpSocket {
  const conn = listen({ hostname, port, transport: "udp" });
  let closed = false;
  const receive = async () => {
    while (!closed) {
      let message: Uint8Array;
      let source: Deno.NetAddr;
      try {
        const [data, addr] = await conn.receive();
        message = data;
        source = addr as Deno.NetAddr;
      } catch (error) {
        if (closed) return;
        onError(`DNS UDP receive: ${(error as Error).message}`);
        continue;
      }
      onDatagram(message, source.hostname, (out) => {
        if (closed) return;
        conn.send(out, source).catch(() => {});
      });
    }
  };
  const loops = Array.from({ length: DENO_RECEIVERS }, receive);
  return {
    port: (conn.addr as Deno.NetAddr).port,
    kind: "deno",
    async close() {
      closed = true;
      conn.close();
      await Promise.allSettled(loops);
    },
  };
}

async function bindNode(
  hostname: string,
  port: number,
  onDatagram: OnDatagram,
  onError: (message: string) => void,
): Promise<UdpSocket> {
  const socket = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, hostname, () => {
        socket.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    socket.close();
    throw error;
  }
  let closed = false;
  socket.on("error", (error) => onError(`DNS UDP socket: ${error.message}`));
  socket.on("message", (msg: Uint8Array, rinfo: dgram.RemoteInfo) => {
    onDatagram(msg, rinfo.address, (out) => {
      if (closed) return;
      socket.send(out, rinfo.port, rinfo.address);
    });
  });
  return {
    port: socket.address().port,
    kind: "node:dgram",
    close() {
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
