/**
 * The leader's certificate duty: every host a `route` names gets a
 * certificate from the cluster's ACME CA (proxy/acme), one order at a time,
 * renewed before it expires, with backoff after failures. Everything it
 * learns goes through Raft, so a new leader picks up the same account, the
 * same schedule and the same backoff:
 *
 * 1. `AcmeLease` for the host: refused while another node's lease runs, so
 *    an old leader still ordering and a new one never order together; the
 *    order's deadline ends before the lease does.
 * 2. The account key (made once, encrypted under the cluster key).
 * 3. The order: each HTTP-01 token is an `AcmeChallenge`, answered by every
 *    node's proxy, since the CA may reach any of them.
 * 4. `CertificateStored` (its key encrypted) or `CertificateOrderFailed`.
 * 5. The lease given back.
 */
import type { ClusterState, Command, FsmCertificate } from "../../raft/mod.ts";
import {
  createAccountKey,
  type HostCertificateState,
  LEASE_MARGIN_DEFAULT_MS,
  newHostState,
  ORDER_TIMEOUT_DEFAULT_MS,
  orderCertificate,
  type OrderFailure,
  type OrderFailureKind,
  planOrders,
} from "../../proxy/acme/mod.ts";
import type { CommitResult } from "../deploy/mod.ts";
import {
  type ClusterKey,
  decryptSecret,
  encryptSecret,
} from "../secrets/mod.ts";
import {
  certificateHosts,
  certificateSecretName,
  DEFAULT_ACME_DIRECTORY,
} from "./hosts.ts";
import { sleepUnlessAborted } from "../sleep.ts";

export interface CertificateDutyOptions {
  state(): ClusterState;
  commit(command: Command): Promise<CommitResult>;
  clusterKey(): ClusterKey;
  selfId(): string;
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  /** How often the schedule is looked at (default 2 s). */
  readonly checkEveryMs?: number;
  /** One order's limit (default proxy/acme's). */
  readonly orderTimeoutMs?: number;
  /** The wait after publishing a token, for it to reach every node (default 1 s). */
  readonly publishSettleMs?: number;
}

/** The secret name the account key is encrypted under (bound into the ciphertext). */
const ACCOUNT_SECRET = "acme.account";

export class CertificateDuty {
  readonly name = "certificates";
  readonly #options: CertificateDutyOptions;
  #loop: Promise<void> | null = null;

  constructor(options: CertificateDutyOptions) {
    this.#options = options;
  }

  lead(term: { readonly signal: AbortSignal }): void {
    this.#loop = this.#run(term.signal).catch((error) => {
      if (!term.signal.aborted) {
        this.#options.log("error", `certificates: ${error}`);
      }
    });
  }

  async stepDown(): Promise<void> {
    await this.#loop;
    this.#loop = null;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const everyMs = this.#options.checkEveryMs ?? 2_000;
    while (!signal.aborted) {
      const host = this.#dueHost();
      if (host !== null) await this.#order(host, signal);
      else await sleepUnlessAborted(everyMs, signal);
    }
  }

  /** The most urgent host due now whose lease is free (or ours), or null. */
  #dueHost(): string | null {
    const state = this.#options.state();
    const nowMs = this.#options.nowMs();
    const lease = state.acme.lease;
    if (
      lease !== null && lease.holder !== this.#options.selfId() &&
      lease.expiresAtMs > nowMs
    ) {
      return null;
    }
    const states = certificateHosts(state).map((host) =>
      hostStateOf(host, state.acme.certificates.find((c) => c.host === host))
    );
    return planOrders(states, nowMs).due[0] ?? null;
  }

  async #order(host: string, signal: AbortSignal): Promise<void> {
    const { commit, log, nowMs } = this.#options;
    const selfId = this.#options.selfId();
    const timeoutMs = this.#options.orderTimeoutMs ?? ORDER_TIMEOUT_DEFAULT_MS;
    const takenAtMs = nowMs();
    const expiresAtMs = takenAtMs + timeoutMs + LEASE_MARGIN_DEFAULT_MS;
    const taken = await commit({
      type: "AcmeLease",
      holder: selfId,
      host,
      expiresAtMs,
      atMs: takenAtMs,
    });
    if (!taken.ok) {
      log("info", `certificates: ${host}: ${taken.rejection.message}`);
      return;
    }
    try {
      // Tokens a holder that died mid-order left behind.
      for (const challenge of this.#options.state().acme.challenges) {
        await commit({
          type: "AcmeChallenge",
          token: challenge.token,
          host: challenge.host,
          keyAuthorization: null,
          atMs: nowMs(),
        });
      }
      await this.#orderUnderLease(host, expiresAtMs, signal);
    } finally {
      if (!signal.aborted) {
        await commit({
          type: "AcmeLease",
          holder: selfId,
          host: null,
          expiresAtMs: 0,
          atMs: nowMs(),
        }).catch(() => {});
      }
    }
  }

  async #orderUnderLease(
    host: string,
    leaseExpiresAtMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { commit, log, nowMs } = this.#options;
    const settings = this.#options.state().acme.settings;
    const directoryUrl = settings?.directoryUrl ?? DEFAULT_ACME_DIRECTORY;
    const account = await this.#account(directoryUrl);
    const settleMs = this.#options.publishSettleMs ?? 1_000;
    log("info", `certificates: ordering for ${host} from ${directoryUrl}`);
    const result = await orderCertificate({
      directoryUrl,
      ...(settings?.caBundlePem == null
        ? {}
        : { caBundle: settings.caBundlePem }),
      accountKeyPem: account.keyPem,
      ...(account.url === null ? {} : { accountUrl: account.url }),
      email: settings?.email ?? null,
      host,
      publish: async (token, keyAuthorization) => {
        await this.#committed({
          type: "AcmeChallenge",
          token,
          host,
          keyAuthorization,
          atMs: nowMs(),
        });
        await sleepUnlessAborted(settleMs, signal);
      },
      unpublish: async (token) => {
        await this.#committed({
          type: "AcmeChallenge",
          token,
          host,
          keyAuthorization: null,
          atMs: nowMs(),
        });
      },
      signal,
      orderTimeoutMs: this.#options.orderTimeoutMs ?? ORDER_TIMEOUT_DEFAULT_MS,
      deadlineMs: leaseExpiresAtMs - LEASE_MARGIN_DEFAULT_MS,
    });
    if (result.accountUrl !== null && result.accountUrl !== account.url) {
      await commit({
        type: "AcmeAccountSet",
        directoryUrl,
        keyCiphertext: account.sealed.ciphertext,
        keyNonce: account.sealed.nonce,
        accountUrl: result.accountUrl,
        atMs: nowMs(),
      });
    }
    if (!result.ok) {
      if (signal.aborted) return;
      const failure = result.failure;
      log(
        "warn",
        `certificates: ${host}: ${failure.kind}: ${failure.message}`,
      );
      await commit({
        type: "CertificateOrderFailed",
        host,
        kind: failure.kind,
        message: failure.message.slice(0, 4096),
        retryAfterUntilMs: retryAfterUntil(failure, nowMs()),
        atMs: nowMs(),
      });
      return;
    }
    const { certificate } = result;
    const sealed = await encryptSecret(
      this.#options.clusterKey(),
      certificateSecretName(host),
      certificate.keyPem,
    );
    const stored = await commit({
      type: "CertificateStored",
      host,
      chainPem: certificate.chainPem,
      keyCiphertext: sealed.ciphertext,
      keyNonce: sealed.nonce,
      notBeforeMs: certificate.info.notBeforeMs,
      notAfterMs: certificate.info.notAfterMs,
      issuer: certificate.info.issuer,
      atMs: nowMs(),
    });
    if (!stored.ok) {
      log("error", `certificates: ${host}: ${stored.rejection.message}`);
      return;
    }
    log(
      "info",
      `certificates: ${host}: issued by ${certificate.info.issuer}, valid until ${
        new Date(certificate.info.notAfterMs).toISOString()
      }`,
    );
  }

  /** The cluster's account for `directoryUrl`: its key decrypted, or made and stored. */
  async #account(directoryUrl: string): Promise<{
    keyPem: string;
    url: string | null;
    sealed: { ciphertext: string; nonce: string };
  }> {
    const key = this.#options.clusterKey();
    const account = this.#options.state().acme.account;
    if (account !== null && account.directoryUrl === directoryUrl) {
      const sealed = {
        ciphertext: account.keyCiphertext,
        nonce: account.keyNonce,
      };
      return {
        keyPem: await decryptSecret(key, ACCOUNT_SECRET, sealed),
        url: account.accountUrl,
        sealed,
      };
    }
    const keyPem = await createAccountKey();
    const sealed = await encryptSecret(key, ACCOUNT_SECRET, keyPem);
    // Stored before the first order: a leader that dies mid-order leaves
    // the key its successor registers again, not a second account.
    await this.#committed({
      type: "AcmeAccountSet",
      directoryUrl,
      keyCiphertext: sealed.ciphertext,
      keyNonce: sealed.nonce,
      accountUrl: null,
      atMs: this.#options.nowMs(),
    });
    return { keyPem, url: null, sealed };
  }

  async #committed(command: Command): Promise<void> {
    const result = await this.#options.commit(command);
    if (!result.ok) {
      throw new Error(`${command.type}: ${result.rejection.message}`);
    }
  }
}

/** proxy/acme's view of one host, from the cluster's record of it. */
export function hostStateOf(
  host: string,
  record: FsmCertificate | undefined,
): HostCertificateState {
  if (record === undefined) return newHostState(host);
  return {
    host,
    certificate: record.served === null ? null : {
      notBeforeMs: record.served.notBeforeMs,
      notAfterMs: record.served.notAfterMs,
      issuer: record.served.issuer,
    },
    failures: record.failures,
    lastAttemptMs: record.lastAttemptMs,
    retryAfterUntilMs: record.retryAfterUntilMs,
    lastError: record.lastError === null ? null : {
      // Written by this duty from an OrderFailure's kind.
      kind: record.lastError.kind as OrderFailureKind,
      message: record.lastError.message,
      atMs: record.lastError.atMs,
    },
  };
}

function retryAfterUntil(failure: OrderFailure, nowMs: number): number | null {
  const retryAfterMs = "retryAfterMs" in failure ? failure.retryAfterMs : null;
  return retryAfterMs === null ? null : nowMs + retryAfterMs;
}
