/** A throwaway cluster CA and node certificates, for tests of the peer port. */
import { createCertificateAuthority } from "../cluster_init/mod.ts";
import { createNodeKey, type PemCertificate } from "../cluster_init/mod.ts";
import { issueCertificateFor, type NodeTls } from "./node_certificate.ts";

export interface TestPki {
  readonly ca: PemCertificate;
  /** A certificate of node `nodeId` for 127.0.0.1, signed by this CA. */
  nodeTls(nodeId: string): Promise<NodeTls>;
  /** A client that trusts this CA and presents `tls` (or nothing). */
  client(tls?: NodeTls): Deno.HttpClient;
}

export async function testPki(): Promise<TestPki> {
  const nowMs = Date.now();
  const ca = await createCertificateAuthority("test cluster CA", {
    notBeforeMs: nowMs - 60_000,
    notAfterMs: nowMs + 24 * 60 * 60_000,
  });
  return {
    ca,
    async nodeTls(nodeId) {
      const key = await createNodeKey();
      const certPem = await issueCertificateFor(ca, {
        nodeId,
        publicKeyPem: key.publicKeyPem,
        hosts: ["127.0.0.1"],
        nowMs,
      });
      return { certPem, keyPem: key.keyPem };
    },
    client(tls) {
      return Deno.createHttpClient({
        caCerts: [ca.certPem],
        ...(tls === undefined ? {} : { cert: tls.certPem, key: tls.keyPem }),
      });
    },
  };
}
