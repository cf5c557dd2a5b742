/**
 * Cluster identity for `mill init`: ids, tokens, the CA and API certificate,
 * the data dir files and the CLI context. See node/README.md.
 */
export {
  writeFileAtomic,
  type WriteFileAtomicOptions,
} from "../../raft/mod.ts";
export { ensureDir, exists } from "./fs.ts";
export {
  CLI_CONTEXT_FORMAT,
  type CliContext,
  type CliContextFile,
  defaultCliContextPath,
  parseCliContextFile,
  readCliContextFile,
  saveCliContext,
} from "./context.ts";
export { InitError, type InitErrorCode } from "./errors.ts";
export {
  apiUrl,
  certificateNames,
  type ClusterIdentity,
  DATA_DIR_FILES,
  DATA_DIR_MODE,
  initCluster,
  type InitClusterOptions,
  isIpAddress,
  loadClusterIdentity,
} from "./init.ts";
export {
  constantTimeEqual,
  generateClusterId,
  generateToken,
  isTokenShaped,
  TOKEN_BYTES,
  TOKEN_LENGTH,
} from "./tokens.ts";
export {
  type CertificateInfo,
  createCertificateAuthority,
  createNodeKey,
  isSignedBy,
  issueNodeCertificate,
  issueServerCertificate,
  type PemCertificate,
  publicKeyOf,
  readCertificate,
  type ServerCertificateRequest,
} from "./x509.ts";
