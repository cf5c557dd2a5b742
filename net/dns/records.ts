/** The zone's records and answers as plain data (what `zone.answer` returns). */

export type DnsRecord =
  | {
    readonly name: string;
    readonly type: "A";
    readonly ttl: number;
    readonly address: string;
  }
  | {
    readonly name: string;
    readonly type: "SRV";
    readonly ttl: number;
    readonly priority: number;
    readonly weight: number;
    readonly port: number;
    readonly target: string;
  }
  | {
    readonly name: string;
    readonly type: "SOA";
    readonly ttl: number;
    readonly mname: string;
    readonly rname: string;
    readonly serial: number;
    readonly refresh: number;
    readonly retry: number;
    readonly expire: number;
    readonly minimum: number;
  };

export interface DnsAnswer {
  /** REFUSED: the name is not under this zone's domain. */
  readonly rcode: "NOERROR" | "NXDOMAIN" | "REFUSED";
  readonly answers: readonly DnsRecord[];
  /** The SOA record for negative answers (NXDOMAIN and NODATA). */
  readonly authority: readonly DnsRecord[];
  /** A records of the answers' SRV targets. */
  readonly additionals: readonly DnsRecord[];
}
