/**
 * Cpu and memory per container from containerd's task metrics: the Any in
 * each metric holds cgroup v1 or v2 stats, told apart by its type URL.
 */
import type { MetricRecord } from "./types.ts";
import { decodeMessage } from "./_protobuf.ts";

export interface ContainerMetrics {
  readonly containerId: string;
  readonly cgroupVersion: 1 | 2;
  /** Cpu time used since start. */
  readonly cpuUsageNs: number;
  /** Memory in use, without the inactive page cache (as docker reports it). */
  readonly memoryUsageBytes: number;
  readonly memoryLimitBytes: number;
  readonly pids: number;
}

interface V1 {
  pids: { current: number } | null;
  cpu: { usage: { total: number } | null } | null;
  memory: {
    totalInactiveFile: number;
    usage: { usage: number; limit: number } | null;
  } | null;
}

interface V2 {
  pids: { current: number } | null;
  cpu: { usageUsec: number } | null;
  memory: { usage: number; usageLimit: number; inactiveFile: number } | null;
}

/** Decodes one metric; undefined for a type we do not know. */
export function decodeMetric(
  record: MetricRecord,
): ContainerMetrics | undefined {
  const data = record.data;
  if (data === null) return undefined;
  if (data.typeUrl.endsWith("io.containerd.cgroups.v1.Metrics")) {
    const m = decodeMessage(
      "io.containerd.cgroups.v1.Metrics",
      data.value,
    ) as V1;
    const usage = m.memory?.usage?.usage ?? 0;
    return {
      containerId: record.id,
      cgroupVersion: 1,
      cpuUsageNs: m.cpu?.usage?.total ?? 0,
      memoryUsageBytes: Math.max(0, usage - (m.memory?.totalInactiveFile ?? 0)),
      memoryLimitBytes: m.memory?.usage?.limit ?? 0,
      pids: m.pids?.current ?? 0,
    };
  }
  if (data.typeUrl.endsWith("io.containerd.cgroups.v2.Metrics")) {
    const m = decodeMessage(
      "io.containerd.cgroups.v2.Metrics",
      data.value,
    ) as V2;
    return {
      containerId: record.id,
      cgroupVersion: 2,
      cpuUsageNs: (m.cpu?.usageUsec ?? 0) * 1000,
      memoryUsageBytes: Math.max(
        0,
        (m.memory?.usage ?? 0) - (m.memory?.inactiveFile ?? 0),
      ),
      memoryLimitBytes: m.memory?.usageLimit ?? 0,
      pids: m.pids?.current ?? 0,
    };
  }
  return undefined;
}
