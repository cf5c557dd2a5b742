/**
 * `wg show NAME dump`, parsed (pure). Its first line is the interface and
 * holds the private key: only the public key and port are kept from it.
 */

export interface WgInterfaceDump {
  /** null when no private key is set yet. */
  readonly publicKey: string | null;
  readonly listenPort: number;
}

export interface MeshPeerStatus {
  readonly publicKey: string;
  /** `ip:port`, null before it is known. */
  readonly endpoint: string | null;
  /** As wg holds them, sorted. */
  readonly allowedIps: readonly string[];
  /** Epoch ms of the latest handshake, null when none yet. */
  readonly latestHandshakeMs: number | null;
  readonly rxBytes: number;
  readonly txBytes: number;
  /** Seconds, null when off. */
  readonly persistentKeepaliveS: number | null;
}

export interface WgDump {
  readonly iface: WgInterfaceDump;
  readonly peers: readonly MeshPeerStatus[];
}

function count(text: string | undefined, what: string): number {
  if (text === undefined || !/^[0-9]+$/.test(text)) {
    throw new Error(`wg show dump: ${what} is not a number`);
  }
  return Number(text);
}

export function parseWgDump(text: string): WgDump {
  const lines = text.split("\n").filter((line) => line !== "");
  const first = lines.shift();
  if (first === undefined) throw new Error("wg show dump printed nothing");
  // private-key public-key listen-port fwmark: the private key is dropped.
  const head = first.split("\t");
  if (head.length !== 4) {
    throw new Error("wg show dump: the interface line has not 4 fields");
  }
  const iface = {
    publicKey: head[1] === "(none)" ? null : head[1]!,
    listenPort: count(head[2], "listen port"),
  };
  const peers = lines.map((line): MeshPeerStatus => {
    // public-key preshared-key endpoint allowed-ips latest-handshake
    // transfer-rx transfer-tx persistent-keepalive
    const f = line.split("\t");
    if (f.length !== 8) {
      throw new Error("wg show dump: a peer line has not 8 fields");
    }
    const handshake = count(f[4], "latest handshake");
    return {
      publicKey: f[0]!,
      endpoint: f[2] === "(none)" ? null : f[2]!,
      allowedIps: f[3] === "(none)" ? [] : f[3]!.split(",").sort(),
      latestHandshakeMs: handshake === 0 ? null : handshake * 1000,
      rxBytes: count(f[5], "rx bytes"),
      txBytes: count(f[6], "tx bytes"),
      persistentKeepaliveS: f[7] === "off" ? null : count(f[7], "keepalive"),
    };
  });
  return { iface, peers };
}
