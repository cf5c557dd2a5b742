/**
 * Pure rendering of `status`, `nodes` and `ps`: the API's JSON in, lines
 * out (aligned columns, sizes in human units).
 */

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!))
      .join("  ").trimEnd()
  );
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = value >= 10 || unit === 0
    ? Math.round(value)
    : Math.round(value * 10) / 10;
  return `${shown}${units[unit]}`;
}

export function formatCpu(millis: number): string {
  return `${Math.round(millis) / 1000}`;
}

/** "3s ago", "5m ago", from ISO time and now. */
export function ago(iso: string, nowMs: number): string {
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

interface Record_ {
  readonly [key: string]: unknown;
}

function str(value: unknown): string {
  return value === null || value === undefined ? "-" : String(value);
}

export function renderNodes(
  nodes: readonly Record_[],
  nowMs: number,
): string[] {
  return table([
    [
      "NAME",
      "ROLES",
      "STATUS",
      "ADDRESS",
      "CPU",
      "MEMORY",
      "ALLOCS",
      "HEARTBEAT",
      "MESH",
    ],
    ...nodes.map((n) => [
      `${str(n.name)}${n.leader === true ? " (leader)" : ""}`,
      Array.isArray(n.roles) ? n.roles.join(",") : "-",
      `${str(n.status)}${n.draining === true ? ",draining" : ""}`,
      str(n.address),
      `${formatCpu(Number(n.cpuMillisReserved))}/${
        formatCpu(Number(n.cpuMillis))
      }`,
      `${formatBytes(Number(n.memoryBytesReserved))}/${
        formatBytes(Number(n.memoryBytes))
      }`,
      str(n.allocs),
      ago(str(n.lastHeartbeatAt), nowMs),
      meshOf(n, nowMs),
    ]),
  ]);
}

/** Its mesh address and the answering node's last handshake with it. */
function meshOf(node: Record_, nowMs: number): string {
  if (typeof node.meshAddress !== "string") return "-";
  return typeof node.meshHandshakeAt === "string"
    ? `${node.meshAddress} (handshake ${ago(node.meshHandshakeAt, nowMs)})`
    : node.meshAddress;
}

export function renderAllocs(allocs: readonly Record_[]): string[] {
  return table([
    ["ALLOC", "NAME", "KIND", "NODE", "STATUS", "ADDRESS", "RESTARTS", "IMAGE"],
    ...allocs.map((a) => [
      str(a.id),
      str(a.workload),
      str(a.kind),
      str(a.nodeName ?? a.nodeId),
      a.exitCode === null || a.exitCode === undefined
        ? str(a.status)
        : `${str(a.status)} (exit ${a.exitCode})`,
      str(a.address),
      str(a.restarts),
      str(a.image),
    ]),
  ]);
}

export function renderStatus(status: Record_): string[] {
  const leader = status.leader as Record_ | null;
  const nodes = status.nodes as Record_;
  const services = (status.services ?? []) as Record_[];
  const lines = [
    `cluster  ${str(status.clusterId)}`,
    `leader   ${
      leader === null ? "none" : str(leader.name ?? leader.id)
    } (term ${str(status.term)})`,
    `nodes    ${str(nodes.ready)} ready, ${str(nodes.down)} down`,
  ];
  const last = status.lastDeploy as Record_ | null;
  if (last !== null && last !== undefined) {
    lines.push(
      `deploy   ${str(last.id)} ${str(last.status)}${
        last.message === "" ? "" : `: ${str(last.message)}`
      }`,
    );
  }
  lines.push("");
  if (services.length === 0) {
    lines.push("no services deployed");
    return lines;
  }
  lines.push(
    ...table([
      ["SERVICE", "HEALTHY", "PORT", "IMAGE"],
      ...services.map((s) => [
        str(s.name),
        `${str(s.healthy)}/${str(s.replicas)}`,
        str(s.port),
        str(s.image),
      ]),
    ]),
  );
  return lines;
}

/** The certificates table of `mill certs` and `mill status`. */
export function renderCertificates(
  certificates: readonly Record_[],
  nowMs: number,
): string[] {
  if (certificates.length === 0) return ["no routed hosts"];
  return table([
    ["HOST", "STATE", "ISSUER", "EXPIRES", "NEXT ORDER", "LAST ERROR"],
    ...certificates.map((c) => {
      const error = c.lastError as Record_ | null;
      return [
        str(c.host),
        str(c.state),
        str(c.issuer),
        str(c.notAfter),
        typeof c.nextOrderAt === "string"
          ? Date.parse(c.nextOrderAt) <= nowMs ? "now" : c.nextOrderAt
          : "-",
        error === null || error === undefined
          ? "-"
          : `${str(error.kind)}: ${str(error.message)} (${str(c.failures)}×)`,
      ];
    }),
  ]);
}
