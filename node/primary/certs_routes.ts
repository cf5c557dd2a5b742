/**
 * The ingress's certificates on the API (admin, answered by the leader):
 *
 * - `GET /v1/certs`: the ACME settings in force and, for every host a
 *   route names (and any with a record), its certificate's state, issuer
 *   and expiry, the next order and the last error;
 * - `PUT /v1/acme` `{ directoryUrl, email?, caBundlePem? }`: the cluster's
 *   ACME directory (`"production"` and `"staging"` name Let's Encrypt's),
 *   contact and the CA its TLS is checked against.
 */
import {
  type CertificateStatus,
  certificateStatus,
} from "../../proxy/acme/mod.ts";
import type { ClusterState, Command } from "../../raft/mod.ts";
import {
  ApiError,
  type Handler,
  jsonResponse,
  readJsonBody,
} from "../api/mod.ts";
import type { CommitResult } from "../deploy/mod.ts";
import { hostStateOf } from "../ingress/certificate_duty.ts";
import { certificateHosts, DEFAULT_ACME_DIRECTORY } from "../ingress/hosts.ts";

export const STAGING_ACME_DIRECTORY =
  "https://acme-staging-v02.api.letsencrypt.org/directory";

export interface CertsView {
  readonly acme: {
    readonly directoryUrl: string;
    readonly email: string | null;
    readonly customCa: boolean;
    /** The node ordering now and for which host, if any. */
    readonly ordering: { readonly node: string; readonly host: string } | null;
  };
  readonly certificates: readonly CertificateView[];
}

export interface CertificateView {
  readonly host: string;
  readonly state: CertificateStatus["state"];
  readonly issuer: string | null;
  readonly notAfter: string | null;
  /** When it is ordered next; null when no route names it any more. */
  readonly nextOrderAt: string | null;
  readonly failures: number;
  readonly lastError: {
    readonly kind: string;
    readonly message: string;
    readonly at: string;
  } | null;
}

/** What `GET /v1/certs` answers (pure). */
export function certsView(state: ClusterState, nowMs: number): CertsView {
  const routed = new Set(certificateHosts(state));
  const hosts = new Set(routed);
  for (const record of state.acme.certificates) hosts.add(record.host);
  const settings = state.acme.settings;
  const lease = state.acme.lease;
  return {
    acme: {
      directoryUrl: settings?.directoryUrl ?? DEFAULT_ACME_DIRECTORY,
      email: settings?.email ?? null,
      customCa: settings?.caBundlePem != null,
      ordering: lease === null || lease.expiresAtMs <= nowMs ? null : {
        node: state.nodes.get(lease.holder)?.name ?? lease.holder,
        host: lease.host,
      },
    },
    certificates: [...hosts].sort().map((host) => {
      const status = certificateStatus(
        hostStateOf(host, state.acme.certificates.find((c) => c.host === host)),
        nowMs,
      );
      return {
        host,
        state: status.state,
        issuer: status.issuer,
        notAfter: iso(status.notAfterMs),
        // A host no route names any more is not ordered for again.
        nextOrderAt: routed.has(host) ? iso(status.nextOrderAtMs) : null,
        failures: status.failures,
        lastError: status.lastError === null ? null : {
          kind: status.lastError.kind,
          message: status.lastError.message,
          at: new Date(status.lastError.atMs).toISOString(),
        },
      };
    }),
  };
}

function iso(ms: number | null): string | null {
  return ms === null || !Number.isFinite(ms)
    ? null
    : new Date(ms).toISOString();
}

export function certsHandler(options: {
  state(): ClusterState;
  readonly nowMs: () => number;
}): Handler {
  return async (request) => {
    await request.body?.cancel();
    return jsonResponse(certsView(options.state(), options.nowMs()));
  };
}

/** `PUT /v1/acme`. */
export function acmeSettingsHandler(options: {
  commit(command: Command): Promise<CommitResult>;
  readonly nowMs: () => number;
}): Handler {
  return async (request) => {
    const body = await readJsonBody(request, { bytesMax: 128 * 1024 });
    const { directoryUrl, email, caBundlePem } = parseSettings(body);
    const result = await options.commit({
      type: "AcmeSettingsSet",
      directoryUrl,
      email,
      caBundlePem,
      atMs: options.nowMs(),
    });
    if (!result.ok) {
      throw new ApiError(422, result.rejection.code, result.rejection.message);
    }
    return jsonResponse({
      directoryUrl,
      email,
      customCa: caBundlePem !== null,
    });
  };
}

function parseSettings(body: unknown): {
  directoryUrl: string;
  email: string | null;
  caBundlePem: string | null;
} {
  const fields = typeof body === "object" && body !== null
    ? body as Record<string, unknown>
    : null;
  const unknown = fields === null
    ? []
    : Object.keys(fields).filter((k) =>
      !["directoryUrl", "email", "caBundlePem"].includes(k)
    );
  const { directoryUrl, email = null, caBundlePem = null } = fields ?? {};
  if (
    fields === null || unknown.length > 0 ||
    typeof directoryUrl !== "string" ||
    (email !== null && typeof email !== "string") ||
    (caBundlePem !== null && typeof caBundlePem !== "string")
  ) {
    throw new ApiError(
      400,
      "api.invalid_json",
      'Body must be {"directoryUrl": URL, "production" or "staging", "email"?: text, "caBundlePem"?: PEM}' +
        (unknown.length > 0 ? `; unknown: ${unknown.join(", ")}` : ""),
    );
  }
  return {
    directoryUrl: directoryUrl === "production"
      ? DEFAULT_ACME_DIRECTORY
      : directoryUrl === "staging"
      ? STAGING_ACME_DIRECTORY
      : directoryUrl,
    email: email as string | null,
    caBundlePem: caBundlePem as string | null,
  };
}
