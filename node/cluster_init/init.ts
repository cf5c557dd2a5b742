/**
 * `mill init`'s identity step: a new cluster's id, tokens, cluster key, CA
 * and API certificate, written into a fresh data dir, plus the CLI's
 * context. Never overwrites: a data dir that already holds a cluster (or
 * part of one) is refused with a typed error.
 *
 * Files are written one by one atomically, secret ones with mode 0600;
 * `cluster.json` is written last, so its presence means the rest is complete.
 * The layout is documented in node/README.md.
 */
import {
  CLUSTER_RANGE_DEFAULT,
  clusterRangeProblem,
} from "../../config/cidr.ts";
import { CLUSTER_KEY_FILE, generateClusterKeyBytes } from "../secrets/mod.ts";
import { writeFileAtomic } from "../../raft/mod.ts";
import { ensureDir, exists } from "./fs.ts";
import { readCliContextFile, saveCliContext } from "./context.ts";
import { InitError } from "./errors.ts";
import { generateClusterId, generateToken, isTokenShaped } from "./tokens.ts";
import {
  createCertificateAuthority,
  issueServerCertificate,
  readCertificate,
} from "./x509.ts";

/** Files of an initialized data dir and their permission bits. */
export const DATA_DIR_FILES = {
  cluster: { name: "cluster.json", mode: 0o600 },
  clusterKey: { name: CLUSTER_KEY_FILE, mode: 0o600 },
  adminToken: { name: "admin.token", mode: 0o600 },
  joinToken: { name: "join.token", mode: 0o600 },
  rpcToken: { name: "rpc.token", mode: 0o600 },
  caCert: { name: "ca.crt", mode: 0o600 },
  caKey: { name: "ca.key", mode: 0o600 },
  apiCert: { name: "api.crt", mode: 0o600 },
  apiKey: { name: "api.key", mode: 0o600 },
} as const;

/** Permission bits of the data dir itself. */
export const DATA_DIR_MODE = 0o700;
/** Certificates are valid from an hour before init, for clock skew … */
export const CERTIFICATE_BACKDATE_MS = 60 * 60_000;
/** … for ten years (rotation is not built yet). */
export const CERTIFICATE_VALIDITY_MS = 10 * 365 * 24 * 60 * 60_000;
export const CLUSTER_FILE_FORMAT = 1;

export interface InitClusterOptions {
  readonly dataDir: string;
  /** This node's name (the API certificate's common name). */
  readonly nodeName: string;
  /**
   * Addresses the API is reached at: IPs and DNS names. All go into the
   * certificate's names, with `localhost`, 127.0.0.1 and ::1; the first one
   * is the CLI context's API URL (127.0.0.1 when empty).
   */
  readonly apiAddresses: readonly string[];
  readonly apiPort: number;
  /** The range node subnets are cut from; default `CLUSTER_RANGE_DEFAULT`. */
  readonly clusterRange?: string;
  /** Where to save the CLI context; null to skip. */
  readonly contextPath: string | null;
  /** Name of the context; `default` when absent. */
  readonly contextName?: string;
  readonly nowMs: number;
}

/** Everything `mill init` created, as the agent loads it at start. */
export interface ClusterIdentity {
  readonly dataDir: string;
  readonly clusterId: string;
  readonly createdAtMs: number;
  readonly nodeName: string;
  readonly apiPort: number;
  /** Container addresses come from here (cluster.json's `clusterRange`). */
  readonly clusterRange: string;
  readonly adminToken: string;
  readonly joinToken: string;
  /** Shared by all nodes for node-to-node RPC; handed to a node at join. */
  readonly rpcToken: string;
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly apiCertPem: string;
  readonly apiKeyPem: string;
  /** Path of the cluster key; read it with `readClusterKeyFile`. */
  readonly clusterKeyPath: string;
}

/** Creates a new cluster's identity in `options.dataDir`. */
export async function initCluster(
  options: InitClusterOptions,
): Promise<ClusterIdentity> {
  validateInitOptions(options);
  await refuseExisting(options.dataDir);
  // Fail on a broken context file before anything is written.
  if (options.contextPath !== null) {
    await readCliContextFile(options.contextPath);
  }
  await ensureDir(options.dataDir, DATA_DIR_MODE);

  const validity = {
    notBeforeMs: options.nowMs - CERTIFICATE_BACKDATE_MS,
    notAfterMs: options.nowMs + CERTIFICATE_VALIDITY_MS,
  };
  const clusterId = generateClusterId();
  const ca = await createCertificateAuthority(
    `mill cluster ${clusterId} CA`,
    validity,
  );
  const { dnsNames, ipAddresses } = certificateNames(options.apiAddresses);
  const api = await issueServerCertificate(ca, {
    commonName: options.nodeName,
    dnsNames,
    ipAddresses,
    ...validity,
  });
  const identity: ClusterIdentity = {
    dataDir: options.dataDir,
    clusterId,
    createdAtMs: options.nowMs,
    nodeName: options.nodeName,
    apiPort: options.apiPort,
    clusterRange: options.clusterRange ?? CLUSTER_RANGE_DEFAULT,
    adminToken: generateToken(),
    joinToken: generateToken(),
    rpcToken: generateToken(),
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    apiCertPem: api.certPem,
    apiKeyPem: api.keyPem,
    clusterKeyPath: `${options.dataDir}/${CLUSTER_KEY_FILE}`,
  };
  await writeIdentity(identity, generateClusterKeyBytes());
  if (options.contextPath !== null) {
    await saveCliContext(
      options.contextPath,
      options.contextName ?? "default",
      {
        apiUrl: apiUrl(options.apiAddresses[0] ?? "127.0.0.1", options.apiPort),
        clusterId,
        caCertPem: ca.certPem,
        token: identity.adminToken,
      },
    );
  }
  return identity;
}

async function writeIdentity(
  identity: ClusterIdentity,
  clusterKey: Uint8Array,
): Promise<void> {
  const f = DATA_DIR_FILES;
  const contents: [{ name: string; mode: number }, Uint8Array | string][] = [
    [f.clusterKey, clusterKey],
    [f.adminToken, identity.adminToken + "\n"],
    [f.joinToken, identity.joinToken + "\n"],
    [f.rpcToken, identity.rpcToken + "\n"],
    [f.caKey, identity.caKeyPem],
    [f.caCert, identity.caCertPem],
    [f.apiKey, identity.apiKeyPem],
    [f.apiCert, identity.apiCertPem],
  ];
  for (const [file, data] of contents) {
    await writeFileAtomic(`${identity.dataDir}/${file.name}`, data, {
      mode: file.mode,
      createNew: true,
    });
  }
  const caInfo = await readCertificate(identity.caCertPem);
  const cluster = {
    format: CLUSTER_FILE_FORMAT,
    clusterId: identity.clusterId,
    createdAt: new Date(identity.createdAtMs).toISOString(),
    nodeName: identity.nodeName,
    apiPort: identity.apiPort,
    clusterRange: identity.clusterRange,
    caFingerprintSha256: caInfo.fingerprintSha256,
  };
  // Last: its presence marks a complete data dir.
  await writeFileAtomic(
    `${identity.dataDir}/${f.cluster.name}`,
    JSON.stringify(cluster, null, 2) + "\n",
    { mode: f.cluster.mode, createNew: true },
  );
}

async function refuseExisting(dataDir: string): Promise<void> {
  if (await exists(`${dataDir}/${DATA_DIR_FILES.cluster.name}`)) {
    throw new InitError(
      "init.already_initialized",
      `Data dir "${dataDir}" already holds a cluster; start the agent on it, ` +
        `or choose another --data-dir to create a new cluster`,
    );
  }
  const present: string[] = [];
  for (const file of Object.values(DATA_DIR_FILES)) {
    if (await exists(`${dataDir}/${file.name}`)) present.push(file.name);
  }
  if (present.length > 0) {
    throw new InitError(
      "init.partial_data_dir",
      `Data dir "${dataDir}" holds ${
        present.map((n) => `"${n}"`).join(", ")
      } ` +
        `from an interrupted init; remove them or choose another --data-dir`,
    );
  }
}

const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const IPV4_PATTERN =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_PATTERN = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;
const DNS_NAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function validateInitOptions(options: InitClusterOptions): void {
  if (!NODE_NAME_PATTERN.test(options.nodeName)) {
    throw new InitError(
      "init.invalid_options",
      `Invalid node name ${JSON.stringify(options.nodeName)}; use 1 to 63 ` +
        `letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  if (
    !Number.isInteger(options.apiPort) || options.apiPort < 1 ||
    options.apiPort > 65535
  ) {
    throw new InitError(
      "init.invalid_options",
      `Invalid API port ${options.apiPort}; use 1 to 65535`,
    );
  }
  const rangeProblem = options.clusterRange === undefined
    ? null
    : clusterRangeProblem(options.clusterRange);
  if (rangeProblem !== null) {
    throw new InitError(
      "init.invalid_options",
      `Invalid cluster range: ${rangeProblem}`,
    );
  }
  for (const address of options.apiAddresses) {
    if (!isIpAddress(address) && !isDnsName(address)) {
      throw new InitError(
        "init.invalid_options",
        `Invalid API address ${
          JSON.stringify(address)
        }; give an IP address or a DNS name`,
      );
    }
  }
}

/** A host name; its last label is not all digits (that would be a bad IP). */
function isDnsName(name: string): boolean {
  return DNS_NAME_PATTERN.test(name) && !/(^|\.)\d+$/.test(name);
}

/** An IPv4 or IPv6 address (no brackets). */
export function isIpAddress(address: string): boolean {
  return IPV4_PATTERN.test(address) ||
    (IPV6_PATTERN.test(address) && URL.canParse(`http://[${address}]/`));
}

/** A certificate's names for `addresses`, with localhost and the loopback addresses. */
export function certificateNames(
  addresses: readonly string[],
): { dnsNames: string[]; ipAddresses: string[] } {
  const all = new Set(["localhost", "127.0.0.1", "::1", ...addresses]);
  const list = [...all];
  return {
    dnsNames: list.filter((a) => !isIpAddress(a)),
    ipAddresses: list.filter(isIpAddress),
  };
}

/** The HTTPS URL of an API at `address:port` (IPv6 in brackets). */
export function apiUrl(address: string, port: number): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return `https://${host}:${port}`;
}

/** Loads and checks an initialized data dir. */
export async function loadClusterIdentity(
  dataDir: string,
): Promise<ClusterIdentity> {
  const f = DATA_DIR_FILES;
  const read = (file: { name: string; mode: number }) =>
    readDataFile(dataDir, file.name, file.mode);
  const cluster = parseClusterFile(dataDir, await read(f.cluster));
  const adminToken = (await read(f.adminToken)).trim();
  const joinToken = (await read(f.joinToken)).trim();
  const rpcToken = (await read(f.rpcToken)).trim();
  if (![adminToken, joinToken, rpcToken].every(isTokenShaped)) {
    throw invalidDataDir(dataDir, "a token file is malformed");
  }
  await readDataFile(dataDir, f.clusterKey.name, f.clusterKey.mode, false);
  return {
    dataDir,
    ...cluster,
    adminToken,
    joinToken,
    rpcToken,
    caCertPem: await read(f.caCert),
    caKeyPem: await read(f.caKey),
    apiCertPem: await read(f.apiCert),
    apiKeyPem: await read(f.apiKey),
    clusterKeyPath: `${dataDir}/${f.clusterKey.name}`,
  };
}

async function readDataFile(
  dataDir: string,
  name: string,
  mode: number,
  asText = true,
): Promise<string> {
  const path = `${dataDir}/${name}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    throw invalidDataDir(dataDir, `"${name}" cannot be read`, err);
  }
  const actual = (info.mode ?? 0) & 0o777;
  if (mode === 0o600 && (actual & 0o077) !== 0) {
    throw invalidDataDir(
      dataDir,
      `"${name}" is accessible to group or others (mode ${
        actual.toString(8)
      }); run "chmod 600 ${path}"`,
    );
  }
  return asText ? await Deno.readTextFile(path) : "";
}

function parseClusterFile(dataDir: string, text: string) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidDataDir(dataDir, `"cluster.json" is not JSON`, err);
  }
  if (
    typeof value !== "object" || value === null ||
    !("format" in value) || value.format !== CLUSTER_FILE_FORMAT ||
    !("clusterId" in value) || typeof value.clusterId !== "string" ||
    !("createdAt" in value) || typeof value.createdAt !== "string" ||
    !("nodeName" in value) || typeof value.nodeName !== "string" ||
    !("apiPort" in value) || typeof value.apiPort !== "number"
  ) {
    throw invalidDataDir(
      dataDir,
      `"cluster.json" is not a format-${CLUSTER_FILE_FORMAT} cluster file`,
    );
  }
  const createdAtMs = Date.parse(value.createdAt);
  if (Number.isNaN(createdAtMs)) {
    throw invalidDataDir(dataDir, `"cluster.json" has an invalid "createdAt"`);
  }
  // Absent from clusters made before container networking: the default.
  const clusterRange = "clusterRange" in value
    ? value.clusterRange
    : CLUSTER_RANGE_DEFAULT;
  if (
    typeof clusterRange !== "string" ||
    clusterRangeProblem(clusterRange) !== null
  ) {
    throw invalidDataDir(
      dataDir,
      `"cluster.json" has an invalid "clusterRange"`,
    );
  }
  return {
    clusterId: value.clusterId,
    createdAtMs,
    nodeName: value.nodeName,
    apiPort: value.apiPort,
    clusterRange,
  };
}

function invalidDataDir(
  dataDir: string,
  what: string,
  cause?: unknown,
): InitError {
  return new InitError(
    "init.invalid_data_dir",
    `Data dir "${dataDir}" is not usable: ${what}`,
    cause === undefined ? undefined : { cause },
  );
}
