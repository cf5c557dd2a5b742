/**
 * Which hosts get a certificate, and the names their keys are encrypted
 * under (pure).
 */
import { sha256Hex } from "../api/mod.ts";
import type { ClusterState } from "../../raft/mod.ts";

/** Let's Encrypt's production directory: the CA a cluster uses unless told. */
export const DEFAULT_ACME_DIRECTORY =
  "https://acme-v02.api.letsencrypt.org/directory";

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The hosts of every service's routes, lowercase, without a trailing dot,
 * once each, sorted: those a public CA can certify (a dotted DNS name, not
 * an address or a bare name like `localhost`).
 */
export function certificateHosts(state: ClusterState): string[] {
  const hosts = new Set<string>();
  for (const service of Object.values(state.config.services)) {
    for (const route of service.routes) {
      const host = route.host.toLowerCase().replace(/\.$/, "");
      if (host.includes(".") && !IPV4.test(host) && !host.includes(":")) {
        hosts.add(host);
      }
    }
  }
  return [...hosts].sort();
}

/** The secret name a host's key is sealed under (a hash: hosts may be long). */
export function certificateSecretName(host: string): string {
  return `tls.${sha256Hex(host).slice(0, 40)}`;
}
