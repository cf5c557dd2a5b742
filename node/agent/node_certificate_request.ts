/**
 * A node certificate issued for a caller's request on a primary (a join,
 * a renewal naming the mesh address): the cluster CA signs the sent public
 * key, or the request is refused with 400 when that key is not one.
 */
import { ApiError } from "../api/mod.ts";
import type { ClusterIdentity } from "../cluster_init/mod.ts";
import { issueCertificateFor } from "./node_certificate.ts";

export function issueForRequest(
  cluster: ClusterIdentity,
  request: {
    readonly nodeId: string;
    readonly publicKeyPem: string;
    readonly hosts: readonly string[];
  },
  refusalCode: string,
): Promise<string> {
  return issueCertificateFor(
    { certPem: cluster.caCertPem, keyPem: cluster.caKeyPem },
    { ...request, nowMs: Date.now() },
  ).catch((error) => {
    throw new ApiError(
      400,
      refusalCode,
      "The public key is not an ECDSA P-256 key in SPKI PEM",
      { cause: error },
    );
  });
}
