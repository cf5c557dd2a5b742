/**
 * ACME for mill's ingress: order certificates over HTTP-01, decide when to
 * renew, read what a certificate says. The caller holds the lease, stores
 * the account key and certificates and publishes the challenge tokens; see
 * README.md.
 */

export { createAccountKeyPem as createAccountKey } from "./_acme_client.ts";
export {
  challengeResponse,
  challengeTokenOfPath,
  HTTP01_PATH_PREFIX,
  isChallengeToken,
} from "./challenge.ts";
export {
  type CertificateInfo,
  chainLeadsTo,
  inspectCertificate,
  keyMatchesCertificate,
  splitPemChain,
} from "./certificate.ts";
export type { OrderFailure, OrderFailureKind } from "./failure.ts";
export {
  LEASE_MARGIN_DEFAULT_MS,
  type LeaseDecision,
  orderDeadlineMs,
  type OrderLease,
  releaseLease,
  takeLease,
} from "./lease.ts";
export {
  hostProblem,
  type IssuedCertificate,
  ORDER_TIMEOUT_DEFAULT_MS,
  orderCertificate,
  type OrderRequest,
  type OrderResult,
} from "./order.ts";
export {
  afterFailure,
  afterSuccess,
  backoffMs,
  type CertificateStatus,
  certificateStatus,
  type HeldCertificate,
  type HostCertificateState,
  type LastError,
  newHostState,
  nextOrderAtMs,
  type OrderPlan,
  planOrders,
  RENEWAL_POLICY_DEFAULT,
  type RenewalPolicy,
  renewalTimeMs,
} from "./renewal.ts";
