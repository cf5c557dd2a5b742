/**
 * `POST /peer/v1/certificate` on a primary's peer port (node scope): a
 * node's certificate renewed to name its mesh address too, so that other
 * nodes can call it through the WireGuard mesh over the same mutual TLS.
 *
 * The caller is known by its current certificate; it may have a
 * certificate for itself only, and only for the addresses the cluster state
 * gives it: its registered address and its mesh address (the first of its
 * subnet). Body: `{"publicKeyPem"}`; answer: `{"nodeCertPem"}`.
 */
import { formatIpv4, gatewayOf, parseCidr } from "../../config/cidr.ts";
import type { ClusterState } from "../../raft/mod.ts";
import {
  ApiError,
  type Handler,
  jsonResponse,
  readJsonBody,
} from "../api/mod.ts";
import type { ClusterIdentity } from "../cluster_init/mod.ts";
import { issueForRequest } from "./node_certificate_request.ts";

export const MESH_CERTIFICATE_PATH = "/peer/v1/certificate";
const BODY_BYTES_MAX = 4096;

export interface MeshCertificateRouteOptions {
  state(): ClusterState;
  cluster(): ClusterIdentity;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** The hosts node `nodeId`'s certificate may name, or why it may have none. */
export function meshCertificateHosts(
  state: ClusterState,
  nodeId: string,
): string[] | ApiError {
  const node = state.nodes.get(nodeId);
  if (node === undefined) {
    return new ApiError(
      404,
      "node.unknown",
      `Node "${nodeId}" is not registered (yet) in this primary's state`,
    );
  }
  const subnet = node.subnet === null ? null : parseCidr(node.subnet);
  if (subnet === null || typeof subnet === "string") {
    return new ApiError(
      409,
      "node.no_mesh_address",
      `Node "${node.name}" has no subnet, so no mesh address to name`,
    );
  }
  return [node.address, formatIpv4(gatewayOf(subnet))];
}

/** The handler of `POST /peer/v1/certificate`, node scope, on primaries. */
export function meshCertificateHandler(
  options: MeshCertificateRouteOptions,
): Handler {
  return async (request, context) => {
    const sender = context.caller?.nodeId;
    if (typeof sender !== "string") {
      throw new ApiError(
        403,
        "api.forbidden",
        "A node certificate is needed",
      );
    }
    const body = await readJsonBody(request, { bytesMax: BODY_BYTES_MAX });
    const publicKeyPem = (body as { publicKeyPem?: unknown } | null)
      ?.publicKeyPem;
    if (
      typeof publicKeyPem !== "string" ||
      !publicKeyPem.includes("BEGIN PUBLIC KEY")
    ) {
      throw new ApiError(
        400,
        "node.bad_request",
        'Body must be {"publicKeyPem": an SPKI PEM public key}',
      );
    }
    const hosts = meshCertificateHosts(options.state(), sender);
    if (hosts instanceof ApiError) throw hosts;
    const cluster = options.cluster();
    const nodeCertPem = await issueForRequest(
      cluster,
      { nodeId: sender, publicKeyPem, hosts },
      "node.bad_request",
    );
    options.log(
      "info",
      `issued node ${sender} a certificate for ${hosts.join(", ")}`,
    );
    return jsonResponse({ nodeCertPem });
  };
}
