/**
 * The certificates a node's proxy serves, with their private keys. The
 * keys are stored encrypted under the cluster key, which only primaries
 * hold: a primary decrypts them itself; any other node asks a primary on
 * its peer port (`GET /peer/v1/ingress/certificates`, a registered node's
 * certificate only), so the keys cross the wire only over mutual TLS.
 */
import type { ClusterState } from "../../raft/mod.ts";
import type { HostCertificate } from "../../proxy/mod.ts";
import { ApiError, type Handler, jsonResponse } from "../api/mod.ts";
import { type ClusterKey, decryptSecret } from "../secrets/mod.ts";
import { certificateSecretName } from "./hosts.ts";

export const INGRESS_CERTIFICATES_PATH = "/peer/v1/ingress/certificates";

/** Longest answer a node reads from a primary. */
const ANSWER_BYTES_MAX = 16 * 1024 * 1024;

/**
 * What changes when the served certificates change: a node refreshes its
 * keys only then. Empty when there are none.
 */
export function certificatesVersion(state: ClusterState): string {
  return state.acme.certificates
    .filter((c) => c.served !== null)
    .map((c) => `${c.host}@${c.served!.storedAtMs}`)
    .join(",");
}

/** Every served certificate with its key decrypted, by host. */
export async function decryptedCertificates(
  state: ClusterState,
  key: ClusterKey,
): Promise<Record<string, HostCertificate>> {
  const out: Record<string, HostCertificate> = {};
  for (const record of state.acme.certificates) {
    const served = record.served;
    if (served === null) continue;
    out[record.host] = {
      certPem: served.chainPem,
      keyPem: await decryptSecret(key, certificateSecretName(record.host), {
        ciphertext: served.keyCiphertext,
        nonce: served.keyNonce,
      }),
    };
  }
  return out;
}

/** The primaries' handler: a node of the cluster gets every served certificate. */
export function ingressCertificatesHandler(options: {
  state(): ClusterState;
  clusterKey(): ClusterKey;
}): Handler {
  return async (request, context) => {
    await request.body?.cancel();
    const sender = context.caller?.nodeId;
    const state = options.state();
    if (typeof sender !== "string" || !state.nodes.has(sender)) {
      throw new ApiError(
        403,
        "ingress.unknown_node",
        "Only a registered node gets the ingress certificates",
      );
    }
    return jsonResponse({
      certificates: await decryptedCertificates(state, options.clusterKey()),
    });
  };
}

/** Asks the primaries in turn; the first answer wins. */
export async function fetchCertificates(
  primaries: readonly string[],
  client: Deno.HttpClient,
): Promise<Record<string, HostCertificate>> {
  const failures: string[] = [];
  for (const primary of primaries) {
    try {
      const response = await fetch(
        `https://${primary}${INGRESS_CERTIFICATES_PATH}`,
        { client, signal: AbortSignal.timeout(10_000) },
      );
      const text = await response.text();
      if (!response.ok || text.length > ANSWER_BYTES_MAX) {
        failures.push(`${primary}: HTTP ${response.status}`);
        continue;
      }
      return parseCertificates(JSON.parse(text));
    } catch (error) {
      failures.push(`${primary}: ${(error as Error).message}`);
    }
  }
  throw new Error(
    `no primary gave the ingress certificates (${
      failures.join("; ") || "no primary known"
    })`,
  );
}

function parseCertificates(body: unknown): Record<string, HostCertificate> {
  const certificates = (body as { certificates?: unknown } | null)
    ?.certificates;
  if (typeof certificates !== "object" || certificates === null) {
    throw new Error("the answer holds no certificates");
  }
  const out: Record<string, HostCertificate> = {};
  for (const [host, value] of Object.entries(certificates)) {
    const { certPem, keyPem } = (value ?? {}) as Record<string, unknown>;
    if (typeof certPem !== "string" || typeof keyPem !== "string") {
      throw new Error(`the certificate of ${host} is malformed`);
    }
    out[host] = { certPem, keyPem };
  }
  return out;
}
