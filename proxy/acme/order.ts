/**
 * One certificate order for one host, start to end: find the account by its
 * key, order, answer HTTP-01 through the caller's publish/unpublish, wait
 * for validation, finalize with a fresh key, download and check the chain.
 * Never throws: every outcome is an OrderResult. The lease (one order at a
 * time in the cluster) and the storage are the caller's; the whole order is
 * bounded by `orderTimeoutMs`, so a lease longer than that cannot run out
 * under a running order.
 */

import {
  AcmeAccountClient,
  type AcmeAuthorization,
  type AcmeOrder,
  createCertificateRequest,
} from "./_acme_client.ts";
import {
  type CertificateInfo,
  inspectCertificate,
  keyMatchesCertificate,
} from "./certificate.ts";
import {
  challengeFailure,
  failureFromError,
  type OrderFailure,
} from "./failure.ts";

export interface OrderRequest {
  /** e.g. Let's Encrypt's https://acme-v02.api.letsencrypt.org/directory */
  readonly directoryUrl: string;
  /** PEM CAs trusted for the directory's TLS besides the system's (a test CA). */
  readonly caBundle?: string;
  /** The cluster's account key (createAccountKey), kept encrypted by the caller. */
  readonly accountKeyPem: string;
  /** The account URL an earlier order returned, if known: saves a lookup. */
  readonly accountUrl?: string;
  /** The account's contact; null for none. */
  readonly email: string | null;
  readonly host: string;
  /**
   * Makes `keyAuthorization` the answer to
   * /.well-known/acme-challenge/TOKEN on every node, resolving only once it
   * is (the CA may reach any of them).
   */
  readonly publish: (token: string, keyAuthorization: string) => Promise<void>;
  /** Removes the token again; called after validation, whatever its outcome. */
  readonly unpublish: (token: string) => Promise<void>;
  readonly signal?: AbortSignal;
  /** The whole order; 180000 unless told. */
  readonly orderTimeoutMs?: number;
  /**
   * An absolute end (epoch ms), when sooner than the timeout: the lease's
   * orderDeadlineMs, so the order stops before the lease can run out.
   */
  readonly deadlineMs?: number;
  /** Each HTTP request to the CA; 15000 unless told. */
  readonly requestTimeoutMs?: number;
}

export const ORDER_TIMEOUT_DEFAULT_MS = 180_000;

export interface IssuedCertificate {
  readonly host: string;
  /** Leaf first, then the intermediates. */
  readonly chainPem: string;
  /** The certificate's private key (PKCS#8 PEM): store it encrypted. */
  readonly keyPem: string;
  readonly info: CertificateInfo;
}

export type OrderResult =
  | {
    readonly ok: true;
    readonly accountUrl: string;
    readonly certificate: IssuedCertificate;
  }
  | {
    readonly ok: false;
    /** Null when the account could not be reached or registered. */
    readonly accountUrl: string | null;
    readonly failure: OrderFailure;
  };

/** A DNS name HTTP-01 can validate: no wildcard, no IP, LDH labels. */
const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function hostProblem(host: string): string | null {
  if (host !== host.toLowerCase()) return `${host} is not in lower case`;
  if (host.startsWith("*.")) {
    return `${host} is a wildcard, which HTTP-01 cannot validate`;
  }
  if (/^[0-9.]+$/.test(host) || host.includes(":")) {
    return `${host} is an IP address; ACME certificates here are for names`;
  }
  if (host.length > 253) return `${host} is longer than 253 characters`;
  const labels = host.split(".");
  if (labels.length < 2 || !labels.every((label) => HOST_LABEL.test(label))) {
    return `${host} is not a host name (letters, digits, inner hyphens, dots)`;
  }
  return null;
}

class StepTimeout extends Error {}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new DOMException("the order was cancelled", "AbortError"));
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DOMException("the order was cancelled", "AbortError"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Re-reads until `done`, 100 ms doubling to 2 s apart, within the deadline. */
async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  deadlineMs: number,
  signal: AbortSignal,
  what: string,
): Promise<T> {
  let delay = 100;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() + delay > deadlineMs) {
      throw new StepTimeout(`${what} did not finish in time`);
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 2000);
  }
}

type Step = { ok: true } | { ok: false; failure: OrderFailure };

async function validate(
  client: AcmeAccountClient,
  url: string,
  request: OrderRequest,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<Step> {
  const authz = await client.authorization(url);
  // A CA may reuse an authorization this account validated recently.
  if (authz.status === "valid") return { ok: true };
  if (authz.status !== "pending") {
    return {
      ok: false,
      failure: challengeFailure(
        `the authorization for ${authz.identifier.value} is ${authz.status}`,
      ),
    };
  }
  const challenge = authz.challenges.find((c) => c.type === "http-01");
  if (challenge === undefined) {
    return {
      ok: false,
      failure: {
        kind: "rejected",
        problemType: "",
        status: 0,
        message: "the ACME server offers no HTTP-01 challenge for " +
          authz.identifier.value,
      },
    };
  }
  const keyAuthorization = await client.keyAuthorization(challenge);
  let settled: AcmeAuthorization;
  try {
    try {
      await request.publish(challenge.token, keyAuthorization);
    } catch (error) {
      return {
        ok: false,
        failure: {
          kind: "publishFailed",
          message: `the challenge token could not be published: ${
            error instanceof Error ? error.message : String(error)
          }`,
        },
      };
    }
    if (signal.aborted) throw new DOMException("cancelled", "AbortError");
    if (challenge.status === "pending") {
      await client.completeChallenge(challenge);
    }
    settled = await pollUntil(
      () => client.authorization(url),
      (a) => a.status !== "pending",
      deadlineMs,
      signal,
      "the HTTP-01 validation",
    );
  } finally {
    // A token left behind is harmless (nobody else knows it) but clutter.
    await request.unpublish(challenge.token).catch(() => {});
  }
  if (settled.status === "valid") return { ok: true };
  const failed = settled.challenges.find((c) => c.type === "http-01");
  return {
    ok: false,
    failure: challengeFailure(
      failed?.error?.detail ??
        `the authorization for ${settled.identifier.value} is ${settled.status}`,
    ),
  };
}

function orderError(order: AcmeOrder, what: string): OrderFailure {
  return {
    kind: "other",
    message: `the order ${what} is ${order.status}${
      order.error?.detail ? `: ${order.error.detail}` : ""
    }`,
  };
}

/** Orders a certificate for `request.host`; see OrderRequest. */
export async function orderCertificate(
  request: OrderRequest,
): Promise<OrderResult> {
  const problem = hostProblem(request.host);
  if (problem !== null) {
    return {
      ok: false,
      accountUrl: request.accountUrl ?? null,
      failure: { kind: "badHost", message: problem },
    };
  }
  const startMs = Date.now();
  const deadlineMs = Math.min(
    startMs + (request.orderTimeoutMs ?? ORDER_TIMEOUT_DEFAULT_MS),
    request.deadlineMs ?? Number.POSITIVE_INFINITY,
  );
  const timeoutMs = Math.max(0, deadlineMs - startMs);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = request.signal === undefined
    ? timeout
    : AbortSignal.any([request.signal, timeout]);
  let client: AcmeAccountClient | null = null;
  const fail = (failure: OrderFailure): OrderResult => ({
    ok: false,
    accountUrl: client?.accountUrl ?? null,
    failure,
  });
  try {
    client = await AcmeAccountClient.open({
      directoryUrl: request.directoryUrl,
      ...(request.caBundle === undefined ? {} : { caBundle: request.caBundle }),
      ...(request.requestTimeoutMs === undefined
        ? {}
        : { requestTimeoutMs: request.requestTimeoutMs }),
      signal,
    }, {
      accountKeyPem: request.accountKeyPem,
      ...(request.accountUrl === undefined
        ? {}
        : { accountUrl: request.accountUrl }),
      email: request.email,
    });
    const account = client;
    let order = await account.newOrder(request.host);
    for (const url of order.authorizations) {
      const step = await validate(account, url, request, deadlineMs, signal);
      if (!step.ok) return fail(step.failure);
    }
    order = await pollUntil(
      () => account.order(order),
      (o) => o.status !== "pending",
      deadlineMs,
      signal,
      "the order",
    );
    if (order.status !== "ready" && order.status !== "valid") {
      return fail(orderError(order, "after validation"));
    }
    const { keyPem, csrPem } = await createCertificateRequest(request.host);
    if (order.status === "ready") order = await account.finalize(order, csrPem);
    order = await pollUntil(
      () => account.order(order),
      (o) => o.status !== "processing",
      deadlineMs,
      signal,
      "the issuance",
    );
    if (order.status !== "valid") return fail(orderError(order, "finalized"));
    const chainPem = await account.certificateChain(order);
    const info = inspectCertificate(chainPem);
    if (!info.names.includes(request.host)) {
      return fail({
        kind: "other",
        message: `the certificate issued names ${
          info.names.join(", ") || "nothing"
        }, not ${request.host}`,
      });
    }
    if (!keyMatchesCertificate(chainPem, keyPem)) {
      return fail({
        kind: "other",
        message: "the certificate issued is not for the key mill sent",
      });
    }
    return {
      ok: true,
      accountUrl: account.accountUrl,
      certificate: { host: request.host, chainPem, keyPem, info },
    };
  } catch (error) {
    if (error instanceof StepTimeout) {
      return fail({ kind: "timeout", message: error.message });
    }
    if (timeout.aborted && !request.signal?.aborted) {
      return fail({
        kind: "timeout",
        message: `the order did not finish within ${timeoutMs} ms`,
      });
    }
    return fail(failureFromError(error));
  } finally {
    client?.close();
  }
}
