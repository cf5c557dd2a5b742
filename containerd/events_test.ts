import { assertEquals } from "./_assert_test.ts";
import { encodeMessage } from "./_protobuf.ts";
import { decodeTaskEvent } from "./events.ts";
import { decodeMetric } from "./metrics.ts";

function envelope(topic: string, typeUrl: string, value: Uint8Array) {
  return {
    timestamp: null,
    namespace: "mill",
    topic,
    event: { typeUrl, value },
  };
}

Deno.test("decodeTaskEvent() decodes exits and marks those after an OOM", () => {
  const seen = new Set<string>();
  const oom = decodeTaskEvent(
    envelope(
      "/tasks/oom",
      "containerd.events.TaskOOM",
      encodeMessage("containerd.events.TaskOOM", { containerId: "a" }),
    ),
    seen,
  );
  assertEquals(oom, { type: "oom", containerId: "a" });
  const exit = (id: string, execId: string) =>
    envelope(
      "/tasks/exit",
      "containerd.events.TaskExit",
      encodeMessage("containerd.events.TaskExit", {
        containerId: id,
        id: execId,
        pid: 9,
        exitStatus: 137,
        exitedAt: { seconds: 2, nanos: 5_000_000 },
      }),
    );
  assertEquals(decodeTaskEvent(exit("a", "a"), seen), {
    type: "exit",
    containerId: "a",
    exitStatus: 137,
    exitedAtMs: 2005,
    oom: true,
  });
  assertEquals(decodeTaskEvent(exit("a", "a"), seen)?.type === "exit", true);
  assertEquals(seen.size, 0);
  assertEquals(
    decodeTaskEvent(exit("a", "exec-1"), seen),
    undefined,
    "exec exits are not the container's",
  );
  assertEquals(
    decodeTaskEvent({ ...exit("a", "a"), topic: "/tasks/start" }, seen),
    undefined,
  );
});

Deno.test("decodeMetric() reads cgroup v1 and v2 metrics and ignores other types", async (t) => {
  await t.step("v1", () => {
    const value = encodeMessage("io.containerd.cgroups.v1.Metrics", {
      pids: { current: 3 },
      cpu: { usage: { total: 5000 } },
      memory: { totalInactiveFile: 100, usage: { usage: 1100, limit: 4096 } },
    });
    assertEquals(
      decodeMetric({
        id: "c",
        data: { typeUrl: "io.containerd.cgroups.v1.Metrics", value },
      }),
      {
        containerId: "c",
        cgroupVersion: 1,
        cpuUsageNs: 5000,
        memoryUsageBytes: 1000,
        memoryLimitBytes: 4096,
        pids: 3,
      },
    );
  });
  await t.step("v2", () => {
    const value = encodeMessage("io.containerd.cgroups.v2.Metrics", {
      pids: { current: 2 },
      cpu: { usageUsec: 7 },
      memory: { usage: 900, usageLimit: 2048, inactiveFile: 100 },
    });
    assertEquals(
      decodeMetric({
        id: "c",
        data: { typeUrl: "io.containerd.cgroups.v2.Metrics", value },
      }),
      {
        containerId: "c",
        cgroupVersion: 2,
        cpuUsageNs: 7000,
        memoryUsageBytes: 800,
        memoryLimitBytes: 2048,
        pids: 2,
      },
    );
  });
  await t.step("unknown type or no data", () => {
    assertEquals(
      decodeMetric({
        id: "c",
        data: { typeUrl: "x", value: new Uint8Array() },
      }),
      undefined,
    );
    assertEquals(decodeMetric({ id: "c", data: null }), undefined);
  });
});
