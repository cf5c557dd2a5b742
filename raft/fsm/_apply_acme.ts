/**
 * `applyX` for the ingress's ACME state: settings, the account, the
 * ordering lease, HTTP-01 challenges and each host's certificate record.
 * The FSM checks shapes and bounds; what to order and when is decided by
 * the leader (proxy/acme's scheduler) and carried in the commands.
 */
import type {
  AcmeAccountSetCommand,
  AcmeChallengeCommand,
  AcmeLeaseCommand,
  AcmeSettingsSetCommand,
  Applied,
  CertificateOrderFailedCommand,
  CertificateStoredCommand,
} from "./command.ts";
import {
  ACME_CHALLENGES_MAX,
  ACME_HOSTS_MAX,
  ACME_PEM_MAX,
  SECRET_CIPHERTEXT_MAX,
} from "./limits.ts";
import type { ClusterState, FsmCertificate } from "./state.ts";
import {
  accept,
  invalidTime,
  invalidUnless,
  isBase64,
  isCount,
  isId,
  quote,
  reject,
} from "./_apply_common.ts";

/** A DNS name a certificate can be for (lowercase, no trailing dot). */
const HOST =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** RFC 8555 tokens are base64url. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

function isHost(value: unknown): value is string {
  return typeof value === "string" && HOST.test(value);
}

/** An https URL with a host and no credentials (no URL parser: pure). */
const HTTPS_URL = /^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[^\s]*)?$/;

function isHttpsUrl(value: unknown): value is string {
  return typeof value === "string" && value.length <= 2048 &&
    HTTPS_URL.test(value);
}

function isPem(value: unknown): value is string {
  return typeof value === "string" && value.length <= ACME_PEM_MAX &&
    value.includes("-----BEGIN ");
}

export function applyAcmeSettingsSet(
  state: ClusterState,
  command: AcmeSettingsSetCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(
      isHttpsUrl(command.directoryUrl),
      `ACME directory ${quote(command.directoryUrl)} must be an https:// URL`,
    ) ??
    invalidUnless(
      command.email === null ||
        /^[^\s@<>]{1,64}@[^\s@<>]{1,253}$/.test(command.email),
      `Contact ${quote(command.email)} is not an e-mail address`,
    ) ??
    invalidUnless(
      command.caBundlePem === null || isPem(command.caBundlePem),
      "The directory's CA must be PEM certificates",
    );
  if (invalid) return invalid;
  const acme = state.acme;
  // An account belongs to one directory: another directory needs another.
  const account = acme.account?.directoryUrl === command.directoryUrl
    ? acme.account
    : null;
  return accept({
    ...state,
    acme: {
      ...acme,
      account,
      settings: {
        directoryUrl: command.directoryUrl,
        email: command.email,
        caBundlePem: command.caBundlePem,
      },
    },
  });
}

export function applyAcmeAccountSet(
  state: ClusterState,
  command: AcmeAccountSetCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(
      isHttpsUrl(command.directoryUrl),
      "The account's directory must be an https:// URL",
    ) ??
    invalidUnless(
      isBase64(command.keyCiphertext) &&
        command.keyCiphertext.length <= SECRET_CIPHERTEXT_MAX &&
        isBase64(command.keyNonce),
      "The account key must be base64 ciphertext and nonce",
    ) ??
    invalidUnless(
      command.accountUrl === null || isHttpsUrl(command.accountUrl),
      "The account URL must be an https:// URL",
    );
  if (invalid) return invalid;
  return accept({
    ...state,
    acme: {
      ...state.acme,
      account: {
        directoryUrl: command.directoryUrl,
        keyCiphertext: command.keyCiphertext,
        keyNonce: command.keyNonce,
        accountUrl: command.accountUrl,
      },
    },
  });
}

export function applyAcmeLease(
  state: ClusterState,
  command: AcmeLeaseCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(isId(command.holder), "Lease holder must be a node id") ??
    invalidUnless(
      command.host === null || isHost(command.host),
      `Lease host ${quote(command.host)} is not a DNS name`,
    ) ??
    invalidUnless(
      isCount(command.expiresAtMs) &&
        (command.host === null || command.expiresAtMs > command.atMs),
      "A lease must expire after it is taken",
    );
  if (invalid) return invalid;
  const current = state.acme.lease;
  if (command.host === null) {
    if (current === null || current.holder !== command.holder) {
      return reject(
        "acme.not_lease_holder",
        `${command.holder} holds no ordering lease to give back`,
      );
    }
    return accept({ ...state, acme: { ...state.acme, lease: null } });
  }
  if (
    current !== null && current.holder !== command.holder &&
    current.expiresAtMs > command.atMs
  ) {
    return reject(
      "acme.lease_held",
      `${current.holder} is ordering a certificate for ${current.host}; its lease runs ${
        current.expiresAtMs - command.atMs
      } ms more`,
    );
  }
  return accept({
    ...state,
    acme: {
      ...state.acme,
      lease: {
        holder: command.holder,
        host: command.host,
        acquiredAtMs: command.atMs,
        expiresAtMs: command.expiresAtMs,
      },
    },
  });
}

export function applyAcmeChallenge(
  state: ClusterState,
  command: AcmeChallengeCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(TOKEN.test(command.token), "Malformed ACME token") ??
    invalidUnless(isHost(command.host), "Challenge host is not a DNS name") ??
    invalidUnless(
      command.keyAuthorization === null ||
        (command.keyAuthorization.length <= 512 &&
          command.keyAuthorization.startsWith(`${command.token}.`)),
      "A key authorization is the token, a dot and the key's thumbprint",
    );
  if (invalid) return invalid;
  const others = state.acme.challenges.filter((c) => c.token !== command.token);
  if (command.keyAuthorization === null) {
    return accept({ ...state, acme: { ...state.acme, challenges: others } });
  }
  if (others.length >= ACME_CHALLENGES_MAX) {
    return reject(
      "acme.limit",
      `At most ${ACME_CHALLENGES_MAX} ACME challenges are pending at once`,
    );
  }
  const challenges = [...others, {
    token: command.token,
    keyAuthorization: command.keyAuthorization,
    host: command.host,
    atMs: command.atMs,
  }].sort((a, b) => a.token < b.token ? -1 : a.token > b.token ? 1 : 0);
  return accept({ ...state, acme: { ...state.acme, challenges } });
}

export function applyCertificateStored(
  state: ClusterState,
  command: CertificateStoredCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(isHost(command.host), "Certificate host is not a DNS name") ??
    invalidUnless(isPem(command.chainPem), "The chain must be PEM") ??
    invalidUnless(
      isBase64(command.keyCiphertext) &&
        command.keyCiphertext.length <= SECRET_CIPHERTEXT_MAX &&
        isBase64(command.keyNonce),
      "The certificate key must be base64 ciphertext and nonce",
    ) ??
    invalidUnless(
      isCount(command.notBeforeMs) && isCount(command.notAfterMs) &&
        command.notAfterMs > command.notBeforeMs,
      "A certificate's validity must end after it begins",
    ) ??
    invalidUnless(
      typeof command.issuer === "string" && command.issuer.length <= 1024,
      "The issuer must be a name",
    );
  if (invalid) return invalid;
  return withCertificate(state, command.host, (record) => ({
    ...record,
    served: {
      chainPem: command.chainPem,
      keyCiphertext: command.keyCiphertext,
      keyNonce: command.keyNonce,
      notBeforeMs: command.notBeforeMs,
      notAfterMs: command.notAfterMs,
      issuer: command.issuer,
      storedAtMs: command.atMs,
    },
    failures: 0,
    lastAttemptMs: command.atMs,
    retryAfterUntilMs: null,
    lastError: null,
  }));
}

export function applyCertificateOrderFailed(
  state: ClusterState,
  command: CertificateOrderFailedCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(isHost(command.host), "Certificate host is not a DNS name") ??
    invalidUnless(
      typeof command.kind === "string" && /^[a-zA-Z]{1,64}$/.test(command.kind),
      "A failure kind is a word",
    ) ??
    invalidUnless(
      typeof command.message === "string" && command.message.length <= 4096,
      "A failure message is at most 4,096 characters",
    ) ??
    invalidUnless(
      command.retryAfterUntilMs === null || isCount(command.retryAfterUntilMs),
      "Retry-After must be a time",
    );
  if (invalid) return invalid;
  return withCertificate(state, command.host, (record) => ({
    ...record,
    failures: record.failures + 1,
    lastAttemptMs: command.atMs,
    retryAfterUntilMs: command.retryAfterUntilMs,
    lastError: {
      kind: command.kind,
      message: command.message,
      atMs: command.atMs,
    },
  }));
}

/** `state` with `host`'s record replaced by `change` of it (new when absent). */
function withCertificate(
  state: ClusterState,
  host: string,
  change: (record: FsmCertificate) => FsmCertificate,
): Applied {
  const current = state.acme.certificates;
  const existing = current.find((c) => c.host === host);
  if (existing === undefined && current.length >= ACME_HOSTS_MAX) {
    return reject(
      "acme.limit",
      `At most ${ACME_HOSTS_MAX} hosts have certificates`,
    );
  }
  const record = change(
    existing ?? {
      host,
      served: null,
      failures: 0,
      lastAttemptMs: null,
      retryAfterUntilMs: null,
      lastError: null,
    },
  );
  const certificates = [...current.filter((c) => c.host !== host), record]
    .sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : 0);
  return accept({ ...state, acme: { ...state.acme, certificates } });
}
